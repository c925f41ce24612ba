#!/usr/bin/env node
// Compile one Solidity file that imports OpenZeppelin (`@openzeppelin/contracts/...`) with the
// pinned solc-js and print one contract's artifact as JSON on stdout:
//   {"contractName", "abi", "bytecode", "deployedBytecode", "compiler"}  (bytecode 0x-prefixed)
// Usage: node tests/clients/compile_oz.mjs FILE.sol CONTRACT
// Imports resolve against node_modules/ (package imports) or the repository root (paths).
// Settings: optimizer on (200 runs), evmVersion cancun. Exits 1 with the errors on stderr,
// 2 when solc-js or OpenZeppelin is not installed.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(path.join(root, "package.json"));

function fail(code, message) {
  process.stderr.write(message.endsWith("\n") ? message : message + "\n");
  process.exit(code);
}

let solc;
try {
  solc = require("solc");
} catch {
  fail(2, "solc-js is not installed (node_modules/solc): run `npm ci` in the repository root");
}
const ozDir = path.join(root, "node_modules", "@openzeppelin", "contracts");
if (!fs.existsSync(ozDir)) {
  fail(2, "OpenZeppelin is not installed (node_modules/@openzeppelin/contracts): run `npm ci`");
}

const [file, contractName] = process.argv.slice(2);
if (!file || !contractName) fail(2, "usage: node tests/clients/compile_oz.mjs FILE.sol CONTRACT");

const key = path.relative(root, path.resolve(file)).split(path.sep).join("/");
const sources = { [key]: { content: fs.readFileSync(file, "utf8") } };

function findImports(importPath) {
  const base = importPath.startsWith("@") ? path.join(root, "node_modules") : root;
  try {
    return { contents: fs.readFileSync(path.resolve(base, importPath), "utf8") };
  } catch (err) {
    return { error: `cannot read ${importPath}: ${err.message}` };
  }
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { [key]: { [contractName]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) fail(1, errors.map((e) => e.formattedMessage || e.message).join("\n"));
const contract = output.contracts?.[key]?.[contractName];
if (!contract) fail(1, `contract ${contractName} not found in ${key}`);

process.stdout.write(
  JSON.stringify({
    contractName,
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
    deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
    compiler: solc.version(),
  })
);
