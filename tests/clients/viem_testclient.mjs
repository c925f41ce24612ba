#!/usr/bin/env node
// viem's test client (mode "anvil") against a running dev node: impersonate an account, set
// balance / code / storage / nonce, queue a call on OpenZeppelin's TimelockController, warp time
// across its delay, execute the call, and mine blocks with an interval.
// Usage: node tests/clients/viem_testclient.mjs HTTP_URL ARTIFACTS.json  (oz_artifacts.mjs output)
// Prints one JSON summary on stdout; any failed check exits 1 with the reason on stderr.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
let viem, chains;
try {
  viem = await import(path.join(root, "node_modules", "viem", "_esm", "index.js"));
  chains = await import(path.join(root, "node_modules", "viem", "_esm", "chains", "index.js"));
} catch {
  process.stderr.write("viem is not installed (node_modules/viem): run `npm ci`\n");
  process.exit(2);
}
const { createPublicClient, createTestClient, createWalletClient, encodeFunctionData, http } = viem;
const { parseEther, zeroAddress, zeroHash, pad, toHex } = viem;

const DELAY = 3600n;
const WHALE = "0x00000000000000000000000000000000000b0b00";
const STORE = "0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const FRESH = "0x00000000000000000000000000000000000f4e54";
// SLOAD(0) MSTORE(0) RETURN(0, 32)
const STORE_CODE = "0x60005460005260206000f3";

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function main() {
  const [url, artifactsPath] = process.argv.slice(2);
  if (!artifactsPath) throw new Error("usage: node viem_testclient.mjs HTTP_URL ARTIFACTS.json");
  const { TimelockController: timelockArtifact } = JSON.parse(fs.readFileSync(artifactsPath, "utf8"));
  const chain = chains.foundry;
  const transport = http(url, { retryCount: 0 });
  const pub = createPublicClient({ chain, transport, pollingInterval: 50 });
  const test = createTestClient({ chain, mode: "anvil", transport });
  const wallet = createWalletClient({ chain, transport });
  const [admin] = await wallet.getAddresses();
  const wait = (hash) => pub.waitForTransactionReceipt({ hash, pollingInterval: 50, timeout: 30000 });

  // Balance, code, storage, nonce.
  await test.setBalance({ address: WHALE, value: parseEther("1000") });
  check((await pub.getBalance({ address: WHALE })) === parseEther("1000"), "setBalance");
  await test.setCode({ address: STORE, bytecode: STORE_CODE });
  check((await pub.getCode({ address: STORE })) === STORE_CODE, "setCode");
  await test.setStorageAt({ address: STORE, index: 0, value: pad(toHex(42)) });
  check(BigInt((await pub.call({ to: STORE })).data) === 42n, "setStorageAt read by a call");
  await test.setNonce({ address: FRESH, nonce: 7 });
  check((await pub.getTransactionCount({ address: FRESH })) === 7, "setNonce");

  // The timelock: WHALE (impersonated) proposes, anyone executes, the admin is the dev account.
  const deployHash = await wallet.deployContract({
    abi: timelockArtifact.abi,
    bytecode: timelockArtifact.bytecode,
    args: [DELAY, [WHALE], [zeroAddress], admin],
    account: admin,
  });
  const timelock = (await wait(deployHash)).contractAddress;
  const tl = { address: timelock, abi: timelockArtifact.abi };
  check((await pub.readContract({ ...tl, functionName: "getMinDelay" })) === DELAY, "min delay");

  // Impersonate WHALE: fund the timelock and schedule updateDelay(120) on it.
  await test.impersonateAccount({ address: WHALE });
  const fund = await wait(
    await wallet.sendTransaction({ account: WHALE, to: timelock, value: parseEther("5") })
  );
  check(fund.status === "success" && fund.from.toLowerCase() === WHALE, "impersonated transfer");
  const data = encodeFunctionData({ abi: tl.abi, functionName: "updateDelay", args: [120n] });
  const op = [timelock, 0n, data, zeroHash, zeroHash];
  const scheduled = await wait(
    await wallet.writeContract({ ...tl, account: WHALE, functionName: "schedule", args: [...op, DELAY] })
  );
  check(scheduled.status === "success", "schedule by the impersonated proposer");
  await test.stopImpersonatingAccount({ address: WHALE });
  let refused = false;
  try {
    await wallet.sendTransaction({ account: WHALE, to: admin, value: 1n });
  } catch {
    refused = true;
  }
  check(refused, "sending as WHALE refused after stopImpersonatingAccount");

  const id = await pub.readContract({ ...tl, functionName: "hashOperation", args: op });
  const readyAt = await pub.readContract({ ...tl, functionName: "getTimestamp", args: [id] });

  // Too early: execute reverts with TimelockUnexpectedOperationState.
  let early = null;
  try {
    await pub.simulateContract({ ...tl, account: admin, functionName: "execute", args: op });
  } catch (err) {
    early = err.walk?.((e) => e.data?.errorName)?.data?.errorName ?? String(err.shortMessage);
  }
  check(early === "TimelockUnexpectedOperationState", `early execute reverts: ${early}`);

  // Warp across the delay and mine, then execute.
  await test.increaseTime({ seconds: Number(DELAY) + 1 });
  await test.mine({ blocks: 1 });
  const warped = await pub.getBlock();
  check(warped.timestamp >= readyAt, `timestamp ${warped.timestamp} reaches ${readyAt}`);
  const executed = await wait(
    await wallet.writeContract({ ...tl, account: admin, functionName: "execute", args: op })
  );
  check(executed.status === "success", "execute after the delay");
  check((await pub.readContract({ ...tl, functionName: "getMinDelay" })) === 120n, "queued call ran");
  check(await pub.readContract({ ...tl, functionName: "isOperationDone", args: [id] }), "operation done");

  // Mine with an interval.
  const before = await pub.getBlock();
  await test.mine({ blocks: 5, interval: 12 });
  const after = await pub.getBlock();
  check(after.number === before.number + 5n, `mined 5 blocks: ${before.number} -> ${after.number}`);
  check(after.timestamp - before.timestamp >= 60n, `interval 12 s: ${after.timestamp - before.timestamp}`);

  process.stdout.write(
    JSON.stringify({
      timelock,
      operation: id,
      readyAt: readyAt.toString(),
      executedAt: warped.timestamp.toString(),
      execute: executed.transactionHash,
      mined: { from: before.number.toString(), to: after.number.toString(), seconds: (after.timestamp - before.timestamp).toString() },
    }) + "\n"
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  }
);
