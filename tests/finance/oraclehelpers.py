"""A small chain with StrikeOracle installed from a genesis config, for the oracle tests."""

from __future__ import annotations

from typing import Any

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import private_key_to_address
from strikevm.finance.genesis import apply_genesis
from strikevm.finance.oracle import ORACLE_ADDRESS, encode_bytes_array, error
from strikevm.finance.oracle_layout import feed_id, price_update
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.evm import EVM

CHAIN_ID = 1337
T0 = 1_800_000_000
BLOCK_TIME = 12


def key(n: int) -> bytes:
    return (0x5354_0002_0000 + n).to_bytes(32, "big")


def address(k: bytes) -> int:
    return int.from_bytes(private_key_to_address(k), "big")


PUBLISHER_KEYS = [key(i) for i in (1, 2, 3)]
PUBLISHERS = [address(k) for k in PUBLISHER_KEYS]
OUTSIDER_KEY = key(99)
ADMIN_KEY = key(1000)
ADMIN = address(ADMIN_KEY)
RELAYER_KEY = key(2000)
RELAYER = address(RELAYER_KEY)
ETH = feed_id("ETH/USD")
USD = feed_id("USD")
E8 = 10**8
WAD = 10**18


def feed_spec(name: str = "ETH/USD", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name, "kind": "price", "decimals": 8, "quorum": 2, "staleness": 120,
        "maxDeviationBps": 1000, "emaWindow": 3600, "twapCapacity": 64,
        "publishers": [f"0x{p:040x}" for p in PUBLISHERS],
    }  # fmt: skip
    spec.update(extra)
    return spec


def oracle_config(*feeds: dict[str, Any]) -> dict[str, Any]:
    return {
        "admin": f"0x{ADMIN:040x}",
        "feeds": list(feeds) or [feed_spec(), feed_spec("USD", kind="rate", decimals=18,
                                                       maxDeviationBps=0, twapCapacity=0)],
    }


def selector(signature: str) -> bytes:
    from strikevm.crypto import keccak256

    return keccak256(signature.encode())[:4]


def words(*values: int) -> bytes:
    return b"".join((v % (1 << 256)).to_bytes(32, "big") for v in values)


class OracleChain:
    """World state + registry + block context; relays updates and reads the oracle."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.system = default_registry()
        self.state = WorldState(
            {RELAYER: Account(balance=10**24), ADMIN: Account(balance=10**24)}
        )
        apply_genesis(self.state, self.system, {"oracle": config or oracle_config()})
        self.block = BlockEnv(number=1, timestamp=T0, base_fee=7, chain_id=CHAIN_ID)
        self.nonces: dict[bytes, int] = {}

    @property
    def now(self) -> int:
        return self.block.timestamp

    def next_block(self, seconds: int = BLOCK_TIME) -> None:
        self.block = BlockEnv(
            number=self.block.number + 1, timestamp=self.block.timestamp + seconds,
            base_fee=7, chain_id=CHAIN_ID,
        )  # fmt: skip

    def send(self, data: bytes, sender_key: bytes = RELAYER_KEY, gas: int = 3_000_000, to: int | None = ORACLE_ADDRESS) -> TxResult:
        nonce = self.nonces.get(sender_key, 0)
        tx = sign_transaction(
            sender_key, tx_type=2, chain_id=CHAIN_ID, nonce=nonce, gas_limit=gas, to=to,
            data=data, max_priority_fee_per_gas=1, max_fee_per_gas=10,
        )  # fmt: skip
        self.nonces[sender_key] = nonce + 1
        return apply_transaction(self.state, self.block, tx, system=self.system)

    def relay(self, *updates: bytes, gas: int = 3_000_000) -> TxResult:
        return self.send(selector("updatePrices(bytes[])") + encode_bytes_array(list(updates)), gas=gas)

    def post(self, prices: dict[int, tuple[int, int]], feed: int = ETH, at: int | None = None) -> TxResult:
        """Publishers (by index) post (price, conf) at ``at`` (default: the block time)."""
        t = self.now if at is None else at
        ups = [price_update(PUBLISHER_KEYS[i], feed, p, c, t, CHAIN_ID) for i, (p, c) in sorted(prices.items())]
        return self.relay(*ups)

    def call(self, signature: str, *args: int, static: bool = True, gas: int = 1_000_000) -> MessageResult:
        self.state.begin_transaction()
        evm = EVM(self.state, self.block, TxEnv(origin=RELAYER), system=self.system)
        data = selector(signature) + words(*args)
        msg = Message(RELAYER, ORACLE_ADDRESS, 0, data, gas, self.state.code(ORACLE_ADDRESS),
                      ORACLE_ADDRESS, is_static=static)  # fmt: skip
        result = evm.process_message(msg)
        self.state.finalize_transaction()
        return result

    def read(self, signature: str, *args: int) -> list[int]:
        result = self.call(signature, *args)
        assert result.success, result.output
        out = result.output
        return [int.from_bytes(out[i : i + 32], "big") for i in range(0, len(out), 32)]

    def storage(self) -> dict[int, int]:
        return {k: v for k, v in self.state.accounts[ORACLE_ADDRESS].storage.items() if v}


def reverted_with(result: TxResult | MessageResult, signature: str, *args: int) -> bool:
    return (not result.success) and result.output == error(signature, *args)
