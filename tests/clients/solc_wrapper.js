#!/usr/bin/env node
// A local `solc` for Foundry: speaks the solc command line that forge uses (`--version`,
// `--standard-json` with the input on stdin) through the pinned solc-js (node_modules/solc),
// so forge compiles without downloading a compiler. Point forge at it with
// `forge build --use tests/clients/solc_wrapper.js` or `solc = "..."` in foundry.toml.
// Other flags forge passes (--base-path, --include-path, --allow-paths) set where imports
// that are not in the input are read from.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
let solc;
try {
  solc = require(path.join(root, "node_modules", "solc"));
} catch {
  process.stderr.write("solc-js is not installed (node_modules/solc): run `npm ci`\n");
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  // forge reads the version from the "Version: " line, as solc prints it.
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("this solc wrapper supports only --version and --standard-json\n");
  process.exit(2);
}

const bases = [process.cwd()];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--base-path" || args[i] === "--include-path") bases.push(path.resolve(args[++i]));
}

function findImports(importPath) {
  for (const base of bases) {
    const file = path.resolve(base, importPath);
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
