#!/usr/bin/env node
// ethers v6 EIP-2612 permit through the node's dev account: deploy OpenZeppelin's ERC20Permit,
// sign the Permit with `signer.signTypedData` (JsonRpcSigner -> eth_signTypedData_v4, signed by
// the node), check the signature locally, let the spender submit permit() and transferFrom(),
// and see a replayed permit refused (the nonce is spent).
// Usage: node tests/clients/ethers_permit.mjs HTTP_URL ARTIFACTS.json  (oz_artifacts.mjs output)
// Prints one JSON summary on stdout; any failed check exits 1 with the reason on stderr.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
let ethers;
try {
  ethers = createRequire(path.join(root, "package.json"))("ethers");
} catch {
  process.stderr.write("ethers is not installed (node_modules/ethers): run `npm ci`\n");
  process.exit(2);
}
const { ContractFactory, JsonRpcProvider, Network, Signature, parseUnits, verifyTypedData } = ethers;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function main() {
  const [url, artifactsPath] = process.argv.slice(2);
  if (!artifactsPath) throw new Error("usage: node ethers_permit.mjs HTTP_URL ARTIFACTS.json");
  const { PermitToken: artifact } = JSON.parse(fs.readFileSync(artifactsPath, "utf8"));
  const network = Network.from(31337);
  const provider = new JsonRpcProvider(url, network, { staticNetwork: network, pollingInterval: 50, cacheTimeout: -1 });
  // JsonRpcSigner: no key in the script, the node signs (eth_sendTransaction, eth_signTypedData_v4).
  const owner = await provider.getSigner(0);
  const spender = await provider.getSigner(1);
  const recipient = (await provider.getSigner(2)).address;

  const supply = parseUnits("1000", 18);
  const token = await new ContractFactory(artifact.abi, artifact.bytecode, owner).deploy(supply);
  await token.waitForDeployment();
  const address = await token.getAddress();

  const value = parseUnits("25", 18);
  const nonce = await token.nonces(owner.address);
  const deadline = BigInt((await provider.getBlock("latest")).timestamp) + 3600n;
  const domain = { name: "Permit Token", version: "1", chainId: 31337, verifyingContract: address };
  const types = {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  };
  const message = { owner: owner.address, spender: spender.address, value, nonce, deadline };
  const signature = await owner.signTypedData(domain, types, message);
  check(verifyTypedData(domain, types, message, signature) === owner.address, "signature recovers the owner");
  const separator = ethers.TypedDataEncoder.hashDomain(domain);
  check((await token.DOMAIN_SEPARATOR()) === separator, "DOMAIN_SEPARATOR matches the signed domain");

  const { v, r, s } = Signature.from(signature);
  const asSpender = token.connect(spender);
  const permit = await (await asSpender.permit(owner.address, spender.address, value, deadline, v, r, s)).wait();
  check(permit.status === 1, "permit status 1");
  check((await token.allowance(owner.address, spender.address)) === value, "allowance set by permit");
  check((await token.nonces(owner.address)) === nonce + 1n, "nonce spent");
  const moved = parseUnits("10", 18);
  const pull = await (await asSpender.transferFrom(owner.address, recipient, moved)).wait();
  check(pull.status === 1, "transferFrom status 1");
  check((await token.balanceOf(recipient)) === moved, "recipient balance");

  let replay = null;
  try {
    await asSpender.permit.staticCall(owner.address, spender.address, value, deadline, v, r, s);
  } catch (err) {
    replay = err.revert?.name ?? err.shortMessage;
  }
  check(replay === "ERC2612InvalidSigner", `replayed permit refused: ${replay}`);

  process.stdout.write(
    JSON.stringify({
      token: address,
      owner: owner.address,
      spender: spender.address,
      signature,
      permit: permit.hash,
      transferFrom: pull.hash,
      allowance: (await token.allowance(owner.address, spender.address)).toString(),
    }) + "\n"
  );
  provider.destroy();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  }
);
