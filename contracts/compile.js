#!/usr/bin/env node
// Compile Solidity files with the pinned solc-js (package.json) and print the standard
// JSON output on stdout. Usage: node contracts/compile.js FILE.sol [FILE.sol ...]
// Imports resolve relative to the importing file. Settings: optimizer on (200 runs),
// evmVersion cancun (the fork StrikeVM runs). Exits 1 with the errors on stderr.
"use strict";

const fs = require("fs");
const path = require("path");

let solc;
try {
  solc = require("solc");
} catch (err) {
  process.stderr.write(
    "solc-js is not installed: run `make test` (it runs `npm ci`) or `npm ci` in the repository root\n"
  );
  process.exit(2);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write("usage: node contracts/compile.js FILE.sol [FILE.sol ...]\n");
  process.exit(2);
}

const root = process.cwd();
const sources = {};
for (const file of files) {
  const key = path.relative(root, path.resolve(file)).split(path.sep).join("/");
  sources[key] = { content: fs.readFileSync(file, "utf8") };
}

function findImports(importPath) {
  try {
    return { contents: fs.readFileSync(path.resolve(root, importPath), "utf8") };
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
    outputSelection: {
      "*": {
        "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"],
      },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  for (const e of errors) process.stderr.write(e.formattedMessage || e.message);
  process.exit(1);
}
output.compiler = solc.version();
process.stdout.write(JSON.stringify(output));
