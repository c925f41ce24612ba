#!/usr/bin/env node
// Compile the OpenZeppelin contracts the viem and ethers scripts use, with the pinned solc-js,
// and print {"TimelockController": {abi, bytecode}, "PermitToken": {abi, bytecode}} as JSON.
// PermitToken is OpenZeppelin's ERC20 + ERC20Permit (EIP-2612) minting a supply to the deployer.
// Usage: node tests/clients/oz_artifacts.mjs  (exits 1 with the errors, 2 without node_modules)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const modules = path.join(root, "node_modules");
let solc;
try {
  solc = createRequire(path.join(root, "package.json"))("solc");
} catch {
  process.stderr.write("solc-js is not installed (node_modules/solc): run `npm ci`\n");
  process.exit(2);
}
if (!fs.existsSync(path.join(modules, "@openzeppelin", "contracts"))) {
  process.stderr.write("OpenZeppelin is not installed (node_modules/@openzeppelin/contracts): run `npm ci`\n");
  process.exit(2);
}

const PERMIT_TOKEN = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
contract PermitToken is ERC20, ERC20Permit {
    constructor(uint256 supply) ERC20("Permit Token", "PMT") ERC20Permit("Permit Token") {
        _mint(msg.sender, supply);
    }
}
`;
const TIMELOCK = "@openzeppelin/contracts/governance/TimelockController.sol";
const sources = {
  "PermitToken.sol": { content: PERMIT_TOKEN },
  [TIMELOCK]: { content: fs.readFileSync(path.join(modules, TIMELOCK), "utf8") },
};
const wanted = ["abi", "evm.bytecode.object"];
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "PermitToken.sol": { PermitToken: wanted }, [TIMELOCK]: { TimelockController: wanted } },
  },
};

function findImports(importPath) {
  try {
    return { contents: fs.readFileSync(path.join(modules, importPath), "utf8") };
  } catch (err) {
    return { error: `cannot read ${importPath}: ${err.message}` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  process.stderr.write(errors.map((e) => e.formattedMessage || e.message).join("\n") + "\n");
  process.exit(1);
}
const pick = (file, name) => {
  const c = output.contracts[file][name];
  return { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
};
process.stdout.write(
  JSON.stringify({
    TimelockController: pick(TIMELOCK, "TimelockController"),
    PermitToken: pick("PermitToken.sol", "PermitToken"),
  })
);
