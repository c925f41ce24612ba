#!/usr/bin/env node
// ethers.js v6 against a running dev node: deploy the ERC20Token artifact, transfer, approve +
// transferFrom, read Transfer events with eth_getLogs (queryFilter, getLogs), decode a custom
// error, and receive a Transfer through a WebSocket subscription (eth_subscribe "logs").
// Usage: node tests/clients/ethers_erc20.mjs HTTP_URL WS_URL ARTIFACT.json
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
const { Contract, ContractFactory, HDNodeWallet, JsonRpcProvider, Mnemonic, Network } = ethers;
const { WebSocketProvider, getAddress, id, parseUnits, zeroPadValue } = ethers;

const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337n;
const TIMEOUT_MS = 30000;
const NAME = "Strike Test Token";
const SYMBOL = "STT";
const SUPPLY = parseUnits("1000000", 18);

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms: ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const [httpUrl, wsUrl, artifactPath] = process.argv.slice(2);
  if (!artifactPath) throw new Error("usage: node ethers_erc20.mjs HTTP_URL WS_URL ARTIFACT.json");
  const artifact = JSON.parse(fs.readFileSync(artifactPath, "utf8"));

  // cacheTimeout -1: ethers otherwise reuses identical answers for 250 ms (eth_getTransactionCount
  // included), which gives a stale nonce on a node that mines each transaction at once.
  const network = Network.from(Number(CHAIN_ID));
  const options = { staticNetwork: network, pollingInterval: 50, cacheTimeout: -1 };
  const provider = new JsonRpcProvider(httpUrl, network, options);
  check((await provider.send("eth_chainId", [])) === "0x7a69", "eth_chainId is 0x7a69");
  check((await provider.getNetwork()).chainId === CHAIN_ID, "chain id 31337");

  const mnemonic = Mnemonic.fromPhrase(MNEMONIC);
  const wallets = [...Array(10).keys()].map((i) =>
    HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`).connect(provider)
  );
  const accounts = (await provider.send("eth_accounts", [])).map((a) => getAddress(a));
  check(
    JSON.stringify(accounts) === JSON.stringify(wallets.map((w) => w.address)),
    `eth_accounts are the mnemonic's first ten accounts: ${accounts}`
  );
  const [deployer, alice, bob, carol] = wallets;

  // Deploy.
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, deployer);
  const token = await factory.deploy(NAME, SYMBOL, SUPPLY);
  await withTimeout(token.waitForDeployment(), "deployment");
  const deployReceipt = await token.deploymentTransaction().wait();
  check(deployReceipt.status === 1, "deployment status 1");
  const address = await token.getAddress();
  check(deployReceipt.contractAddress === address, "receipt contractAddress");
  check((await provider.getCode(address)) === artifact.deployedBytecode, "runtime code");
  check((await token.name()) === NAME, "name");
  check((await token.symbol()) === SYMBOL, "symbol");
  check((await token.decimals()) === 18n, "decimals");
  check((await token.totalSupply()) === SUPPLY, "totalSupply");
  check((await token.balanceOf(deployer.address)) === SUPPLY, "deployer balance");

  // Transfer; the Transfer event in the receipt.
  const amount = parseUnits("250", 18);
  const transferTx = await token.transfer(alice.address, amount);
  const transfer = await withTimeout(transferTx.wait(), "transfer receipt");
  check(transfer.status === 1, "transfer status 1");
  const parsed = transfer.logs.map((log) => token.interface.parseLog(log));
  check(parsed.length === 1 && parsed[0].name === "Transfer", "one Transfer log");
  check(parsed[0].args.from === deployer.address, "Transfer.from");
  check(parsed[0].args.to === alice.address, "Transfer.to");
  check(parsed[0].args.value === amount, "Transfer.value");
  check((await token.balanceOf(alice.address)) === amount, "recipient balance");

  // eth_getLogs through the contract filter API and the provider.
  const events = await token.queryFilter(token.filters.Transfer(deployer.address, alice.address), 0);
  check(events.length === 1, `queryFilter found ${events.length} Transfer(deployer, alice)`);
  check(events[0].transactionHash === transfer.hash, "queryFilter transaction hash");
  check(events[0].args.value === amount, "queryFilter decoded value");
  const logs = await provider.getLogs({
    address,
    topics: [id("Transfer(address,address,uint256)")],
    fromBlock: transfer.blockNumber,
    toBlock: transfer.blockNumber,
  });
  check(logs.length === 1 && logs[0].index === transfer.logs[0].index, "getLogs on the block");
  check(logs[0].blockHash === transfer.blockHash, "getLogs blockHash");

  // approve + transferFrom.
  const allowance = parseUnits("100", 18);
  const approve = await (await token.connect(alice).approve(bob.address, allowance)).wait();
  check(approve.status === 1, "approve status 1");
  check((await token.allowance(alice.address, bob.address)) === allowance, "allowance");
  const moved = parseUnits("40", 18);
  const transferFrom = await (
    await token.connect(bob).transferFrom(alice.address, carol.address, moved)
  ).wait();
  check(transferFrom.status === 1, "transferFrom status 1");
  check((await token.balanceOf(carol.address)) === moved, "transferFrom recipient balance");
  check((await token.allowance(alice.address, bob.address)) === allowance - moved, "allowance spent");

  // A revert carries OpenZeppelin's custom error, decoded by ethers from the ABI.
  let revertName = null;
  try {
    await token.connect(wallets[7]).transfer.staticCall(deployer.address, 1n);
  } catch (err) {
    revertName = err.revert?.name ?? null;
    check(err.code === "CALL_EXCEPTION", `revert code ${err.code}`);
    check(err.revert?.args?.[0] === wallets[7].address, "ERC20InsufficientBalance.sender");
  }
  check(revertName === "ERC20InsufficientBalance", `custom error decoded: ${revertName}`);

  // WebSocket: two eth_subscribe("logs") subscriptions, one through the contract ("Transfer",
  // decoded by ethers) and one through the provider with an indexed-argument topic filter
  // (Transfer(*, carol)); then a transfer to carol must reach both.
  const ws = new WebSocketProvider(wsUrl, network, options);
  let wsEvent;
  try {
    check((await ws.getNetwork()).chainId === CHAIN_ID, "WebSocket chain id");
    const tokenWs = new Contract(address, artifact.abi, ws);
    let deliverDecoded, deliverFiltered;
    const decoded = new Promise((resolve) => (deliverDecoded = resolve));
    const filtered = new Promise((resolve) => (deliverFiltered = resolve));
    await tokenWs.on("Transfer", (from, to, value, event) => {
      if (to === carol.address) deliverDecoded({ from, to, value, log: event.log });
    });
    const topicFilter = {
      address,
      topics: [id("Transfer(address,address,uint256)"), null, zeroPadValue(carol.address, 32)],
    };
    await ws.on(topicFilter, (log) => deliverFiltered(log));
    await ws.getBlockNumber(); // sent after both eth_subscribe on the same socket: answered after

    const wsAmount = parseUnits("3", 18);
    const wsReceipt = await (await token.transfer(carol.address, wsAmount)).wait();
    const got = await withTimeout(decoded, "Transfer over WebSocket (contract.on)");
    check(got.from === deployer.address && got.to === carol.address, "WebSocket event args");
    check(got.value === wsAmount, "WebSocket event value");
    check(got.log.transactionHash === wsReceipt.hash, "WebSocket event transaction hash");
    check(got.log.blockNumber === wsReceipt.blockNumber, "WebSocket event block number");
    check(got.log.blockHash === wsReceipt.blockHash, "WebSocket event block hash");
    check(got.log.index === wsReceipt.logs[0].index, "WebSocket event log index");
    const raw = await withTimeout(filtered, "Transfer over WebSocket (topic filter)");
    check(raw.transactionHash === wsReceipt.hash, "filtered subscription transaction hash");
    check(token.interface.parseLog(raw).args.value === wsAmount, "filtered subscription value");
    wsEvent = { transactionHash: got.log.transactionHash, blockNumber: got.log.blockNumber };
    await tokenWs.removeAllListeners();
    await ws.removeAllListeners();
    await ws.getBlockNumber(); // lets the eth_unsubscribe requests finish before destroy()
  } finally {
    await ws.destroy();
  }

  const summary = {
    token: address,
    deployGasUsed: deployReceipt.gasUsed.toString(),
    transfer: { hash: transfer.hash, blockNumber: transfer.blockNumber, gasUsed: transfer.gasUsed.toString() },
    transferFrom: { hash: transferFrom.hash, gasUsed: transferFrom.gasUsed.toString() },
    balances: Object.fromEntries(
      await Promise.all(
        [deployer, alice, bob, carol].map(async (w) => [w.address, (await token.balanceOf(w.address)).toString()])
      )
    ),
    revert: revertName,
    wsEvent,
  };
  provider.destroy();
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  }
);
