"""Blocks, headers, receipts and blooms: mainnet and ethereum/tests vectors, cross-checks.

Reference data:

* Mainnet blocks 19,808,250 and 22,263,623 (Cancun): every header field as
  returned by ``eth_getBlockByNumber`` (as recorded in viem's test snapshots),
  with the block hash and the withdrawals.
* ethereum/tests BlockchainTests (Cancun, MIT licence, see
  ``shared/conformance/LICENSE.ethereum-tests``): the full block RLP, header
  hash, transactions trie and receipts trie of
  ``GeneralStateTests/Cancun/stEIP1153-transientStorage/01_tloadBeginningTxn``
  (a type-2 transaction) and ``GeneralStateTests/stLogTests/log2_MaxTopic``
  (a legacy transaction that emits one log), and the transactions and
  receipts tries of ``ValidBlocks/bcExample/cancunExample`` (a type-3
  transaction; that fixture predates EIP-4788, so its header is not used).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import rlp as pyrlp
from trie import HexaryTrie

from strikevm.chain.block import (
    EMPTY_BLOOM,
    EMPTY_OMMERS_HASH,
    EMPTY_TRIE_ROOT,
    HEADER_FIELD_NAMES,
    TARGET_BLOB_GAS_PER_BLOCK,
    ZERO_HASH,
    Block,
    Header,
    InvalidBlock,
    InvalidReceipt,
    Receipt,
    Withdrawal,
    block_env,
    bloom_or,
    calc_base_fee,
    calc_excess_blob_gas,
    decode_block,
    decode_header,
    decode_receipt,
    encode_receipt,
    genesis_header,
    logs_bloom,
    receipts_root,
    transactions_root,
    verify_body,
    withdrawals_root,
)
from strikevm.chain.bloom import bloom_may_contain
from strikevm.chain.transaction import (
    ACCESS_LIST_TX,
    BLOB_TX,
    FEE_MARKET_TX,
    LEGACY_TX,
    Transaction,
    decode_transaction,
    encode_transaction,
    sign_transaction,
)
from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.world import Log


def h(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


# ------------------------------------------------------------ mainnet data

_WITHDRAWAL_ADDRESS = 0xB9D7934878B5FB9610B3FE8A5E441E8FAD7E293F

# Mainnet block 19,808,250 (0x12e3ffa), built by beaverbuild, one blob.
MAINNET_19808250 = {
    "hash": "0x33a7971472539aa0ffab0ee330347acd56ca7d2682bfbc80872110ee15e7d8f7",
    "header": dict(
        parent_hash=h("72e938fa6ab225be2ce940db9aea7d670b50b3320b8deaeea1084ab645a1db81"),
        ommers_hash=h("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
        coinbase=0x95222290DD7278AA3DDD389CC1E1D165CC4BAFE5,
        state_root=h("b821f1259927e7c699f2b06cd550d45e8cb322c06256f17ba36caaec33ae865e"),
        transactions_root=h("17429d391ba2a1d033a60a9bdb2899a1c06e25747fcb4c9bc8476c3c72cc357a"),
        receipts_root=h("649c9570fc198f14fa93c9b3fb0d7bda1f75a2a05761ffd832768841fc274aca"),
        logs_bloom=h(
            "80a715cbad9a534e26a01218c885fc2384c7418ebb08610ce30b692726685230"
            "a8d1d4be7c512b1963d50bc3fa9b310512532f52ba86229ee000e6a941fab0a4"
            "5026e41f4f8a4baa2993f06d4ce308fe84b4026b0b4f8cd4d6445240806750615"
            "ed8433dae4e24e01d4183978821ac9f00123297008a2648f269c41f7c98d1059a"
            "63ba6aa345d42410d70250213a65761258b78143d4709c100282df6a523a79bec"
            "1036e5814f9583cdb81c519d7b70016976e8ae1c98346091840262b154741d999"
            "907beade05423823ff7a09cd783c06cd621795d85112bf7ffc0620a1a0da5854e"
            "4897c2014ea02f596915c43902c9ca0532193797747712152267d0057cc"
        ),
        difficulty=0,
        number=0x12E3FFA,
        gas_limit=0x1C9C380,
        gas_used=0xE68B5F,
        timestamp=0x6638490B,
        extra_data=b"beaverbuild.org",
        prev_randao=h("0403c5067873bff3108703e127c63a2882509ee91006d921e2955c2420470958"),
        nonce=bytes(8),
        base_fee_per_gas=0x12F449559,
        withdrawals_root=h("158cc8e8a444e3f70658da20714882c73b2c8932eb09b691271da474471d137b"),
        blob_gas_used=0x20000,
        excess_blob_gas=0x60000,
        parent_beacon_block_root=h(
            "ed1c13ebb84bf75b852cb3e703f8a7d7c8465a039ce058e2390ece725a54ca47"
        ),
    ),
    # (index, validator index, amount in Gwei), all to _WITHDRAWAL_ADDRESS
    "withdrawals": [
        (0x2A5128B, 0x4E940, 0x11B7ED9), (0x2A5128C, 0x4E941, 0x11B37EB),
        (0x2A5128D, 0x4E942, 0x1C7EE99), (0x2A5128E, 0x4E943, 0x11AAB91),
        (0x2A5128F, 0x4E944, 0x11A6E72), (0x2A51290, 0x4E945, 0x11B2BAF),
        (0x2A51291, 0x4E946, 0x11BD042), (0x2A51292, 0x4E947, 0x11A9593),
        (0x2A51293, 0x4E948, 0x11AD611), (0x2A51294, 0x4E949, 0x11B8446),
        (0x2A51295, 0x4E94A, 0x119349E), (0x2A51296, 0x4E94B, 0x11AD839),
        (0x2A51297, 0x4E94C, 0x11A9715), (0x2A51298, 0x4E94D, 0x11B820B),
        (0x2A51299, 0x4E94E, 0x11AAD2B), (0x2A5129A, 0x4E94F, 0x11B090A),
    ],
}  # fmt: skip

# Mainnet block 22,263,623 (0x153b747), six blobs, gas limit above 30M.
MAINNET_22263623 = {
    "hash": "0xd028bdc00aff985bdf872d6b961110d41a6fe4df5e93aeb6dffe2f38ae0a4f7d",
    "header": dict(
        parent_hash=h("019d374731477005b8d3e3236aca44d11ef53fc9eb0ab0c9e11f942636b04b1b"),
        ommers_hash=h("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
        coinbase=0x95222290DD7278AA3DDD389CC1E1D165CC4BAFE5,
        state_root=h("adea44d9167ee7c415601810dbb3f090de70edfdea34632b7e077cefad038af3"),
        transactions_root=h("5c41008fd93b95aff0a1a453b657539b7e43d67d20c196c87fe59f5f2f1dd214"),
        receipts_root=h("230fa17d30bd0ca83606cd4704400735bf05cd09110bc96eeee7dbfbc0f870c9"),
        logs_bloom=h(
            "a336825265c0691c36791a28c7814901910c6b230e016020408d80135c1980b0"
            "1016af2c481b78027612ff562ed6c7821228e23a0ccfea2b689d740905656000"
            "544085800d0928884ad6e10a344820e9f508517102f601cc0c081464d844b699"
            "3b4dd2a082e3462944ca5a4ab4227e8ce368046230b8974506a20496000f1114"
            "06a9b5004e25a580a0e9204843b3100e18454253b384b508362280d101b634a1"
            "2f62148431086a90625f16a482818f0841bac44db90101000f39c532160c7460"
            "d012000688201ea0013a33920e7b384728250356c52700955c3e2bc20891e2c6"
            "2572a843e142470000051461200009428f79b8428b08a4c04b899412204954a5"
        ),
        difficulty=0,
        number=0x153B747,
        gas_limit=0x224C7AD,
        gas_used=0xD83B57,
        timestamp=0x67FC55DB,
        extra_data=b"beaverbuild.org",
        prev_randao=h("33fd71ca8e38da7aa264c9b9252b7d2864484826eeeae67c2aaf3ab0a756f133"),
        nonce=bytes(8),
        base_fee_per_gas=0x25E3B018,
        withdrawals_root=h("96c5c22e9b58cb7141b2aecf4250fc84b0486a00a78353cdcfc9d42c214b2127"),
        blob_gas_used=0xC0000,
        excess_blob_gas=0x180000,
        parent_beacon_block_root=h(
            "a7b4e889e408381f1860000a708b6e5fd42ccd9de7fb1cb442a8e91ecb9e6f6c"
        ),
    ),
    "withdrawals": [
        (0x4FC875B, 0xBEE4F, 0x12380F1), (0x4FC875C, 0xBEE50, 0x3F62A7A),
        (0x4FC875D, 0xBEE56, 0x1256773), (0x4FC875E, 0xBEE57, 0x125B69C),
        (0x4FC875F, 0xBEE58, 0x3E33E35), (0x4FC8760, 0xBEE59, 0x1266095),
        (0x4FC8761, 0xBEE5A, 0x1278100), (0x4FC8762, 0xBEE5B, 0x127AD22),
        (0x4FC8763, 0xBEE5C, 0x127D890), (0x4FC8764, 0xBEE5D, 0x12612DF),
        (0x4FC8765, 0xBEE5E, 0x3E39635), (0x4FC8766, 0xBEE5F, 0x126C872),
        (0x4FC8767, 0xBEE60, 0x1268EDF), (0x4FC8768, 0xBEE61, 0x1267257),
        (0x4FC8769, 0xBEE62, 0x1269208), (0x4FC876A, 0xBEE63, 0x127534C),
    ],
}  # fmt: skip

MAINNET = {"19808250": MAINNET_19808250, "22263623": MAINNET_22263623}


@pytest.mark.parametrize("number", sorted(MAINNET))
def test_mainnet_header_hash(number: str) -> None:
    block = MAINNET[number]
    header = Header(**block["header"])  # type: ignore[arg-type]
    assert header.hash == h(block["hash"])  # type: ignore[arg-type]
    assert header.number == int(number)
    assert decode_header(header.encode()) == header


@pytest.mark.parametrize("number", sorted(MAINNET))
def test_mainnet_withdrawals_root(number: str) -> None:
    block = MAINNET[number]
    withdrawals = [
        Withdrawal(index, validator, _WITHDRAWAL_ADDRESS, amount)
        for index, validator, amount in block["withdrawals"]  # type: ignore[union-attr]
    ]
    header = block["header"]
    assert withdrawals_root(withdrawals) == header["withdrawals_root"]  # type: ignore[index]


def test_mainnet_header_against_pyrlp() -> None:
    """The `rlp` package (pyrlp) encodes the same field list to the same bytes."""
    header = Header(**MAINNET_19808250["header"])  # type: ignore[arg-type]
    encoded = pyrlp.encode(header.fields())
    assert encoded == header.encode()
    assert keccak256(encoded) == h(MAINNET_19808250["hash"])  # type: ignore[arg-type]


def test_mainnet_excess_blob_gas_is_consistent() -> None:
    """Cancun rule: the child's excess is parent excess + parent blob gas - target."""
    header = Header(**MAINNET_22263623["header"])  # type: ignore[arg-type]
    assert calc_excess_blob_gas(header.excess_blob_gas, header.blob_gas_used) == (
        0x180000 + 0xC0000 - TARGET_BLOB_GAS_PER_BLOCK
    )


# ------------------------------------------------------- ethereum/tests blocks

# 01_tloadBeginningTxn_d0g0v0_Cancun: genesis + block 1 with one type-2 transaction.
TLOAD_GENESIS_RLP = h(
    "f90242f9023ca00000000000000000000000000000000000000000000000000000000000000000a01dcc4de8"
    "dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347942adc25665018aa1fe0e6bc666dac8f"
    "c2697ff9baa0d5ee58a029924a1d8beb5c432eee0a27ea9984b54a0ced01febe8eed44109fdea056e81f171b"
    "cc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421a056e81f171bcc55a6ff8345e692c0f86e"
    "5b48e01b996cadc001622fb5e363b421b90100" + "00" * 256 + "80808710000000000000808000a000"
    "000000000000000000000000000000000000000000000000000000000200008800000000000000000ba056e8"
    "1f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b4218083060000a000000000000000000"
    "00000000000000000000000000000000000000000000000c0c0c0"
)
TLOAD_GENESIS_HASH = h("d1e6324a54cf1fe936c9da25c901c2f4864a73053481419b0c5f5b75909c1419")
TLOAD_BLOCK_RLP = h(
    "f902b2f9023da0d1e6324a54cf1fe936c9da25c901c2f4864a73053481419b0c5f5b75909c1419a01dcc4de8"
    "dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347942adc25665018aa1fe0e6bc666dac8f"
    "c2697ff9baa00583ebc27379bd33d0c4db1a7af4b4b2d2016e115336cf39c22c4f3d4a657766a0427dcc7c05"
    "cb69704068da98b46a18f9f3c9945a52b6b1bba1cea261dcd228cfa0daa08ad81de79e971d43f87a752643d8"
    "03d18f4eeb138a2a3d98d87da1a9da61b90100" + "00" * 256 + "800187100000000000008253398203e8"
    "00a000000000000000000000000000000000000000000000000000000000000200008800000000000000000a"
    "a056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b4218080a00000000000000000"
    "000000000000000000000000000000000000000000000000f86eb86c02f8690180808207d087100000000000"
    "0094a00000000000000000000000000000000000000a8080c080a084c840c235190ee7d34e72905e6953e6c7"
    "347df72c55937f9872803a8873bb5ba0310e0ec8dd03336528b77c106bd155d813fcbb9dfdcc0d4dee2a24bb"
    "c4f3662ac0c0"
)
TLOAD_BLOCK_HASH = h("ccfc887475b6f473e487e25c435ddc627a74f838093e81429bb61654485d0b80")
TLOAD_TX_ROOT = h("427dcc7c05cb69704068da98b46a18f9f3c9945a52b6b1bba1cea261dcd228cf")
TLOAD_RECEIPTS_ROOT = h("daa08ad81de79e971d43f87a752643d803d18f4eeb138a2a3d98d87da1a9da61")

# log2_MaxTopic-fork_Cancun-d0g0v0: block 1 with one legacy transaction and one LOG2.
LOG2_BLOOM = h(
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000088000000000000000000000000000000000000000000000000000000000000000000000002000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000020000080000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000010000000000000000000000000"
)
LOG2_BLOCK_RLP = (
    h(
        "f902a5f90239a0cf4fd94e479e7350df121428770ab6602f4a09a3c65a489d66eedfe0f1a5398ba01dcc4de8"
        "dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347942adc25665018aa1fe0e6bc666dac8f"
        "c2697ff9baa0a61e04acf2ac3d538d3e86d0f726940338eb90319f7c3966903797d049d9f917a09b55322a19"
        "d9b3b71be0f5c6f5dbf194748d3290bcfa35d1706c1a24ff105a5fa082ce6b590aeb2a219669b3dd61fda347"
        "85115f2b29b86d1a7451f3e83c0066a1b90100"
    )
    + LOG2_BLOOM
    + h(
        "8001830f424082d2458203e800a0000000000000000000000000000000000000000000000000000000000002"
        "00008800000000000000000aa056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b4"
        "218080a00000000000000000000000000000000000000000000000000000000000000000f865f863800a8303"
        "345094095e7baea6a6c7c4c2dfeb977efac326af552d87830186a0801ba0d7f12f33fd6ed868181c442fa795"
        "b825833472c08304ba8076c99e361277a1cea00754e3b3f79c4ac1554e25989ea8422b5dde0a09c4ff362ad4"
        "086d3f3a7d63cfc0c0"
    )
)
LOG2_BLOCK_HASH = h("08d209756a881d188b84f9c099d2cf4e61037cdc8ce9c210d64202ebddd4832b")
LOG2_TX_ROOT = h("9b55322a19d9b3b71be0f5c6f5dbf194748d3290bcfa35d1706c1a24ff105a5f")
LOG2_RECEIPTS_ROOT = h("82ce6b590aeb2a219669b3dd61fda34785115f2b29b86d1a7451f3e83c0066a1")
# The log, read off the contract code 7f aabbff..ffccdd 6000 52 7f ff..ff 7f ff..ff 6020 6000 a2.
LOG2_LOG = Log(
    0x0F572E5295C57F15886F9B263E2F6D2D6C7B5EC6,
    (2**256 - 1, 2**256 - 1),
    h("aabb" + "ff" * 28 + "ccdd"),
)

# cancunExample (pre-EIP-4788 draft): one type-3 transaction, successful, 0xa865 gas, no logs.
BLOB_TX_WIRE = h(
    "03f8860180026483061a8094b94f5374fce5edbc8e2a8697c15331677e6ebf0b8080c00ae1a001a915e4d060"
    "149eb4365960e6a7a45f334393093061116b197e3240065ff2d801a025e16bb498552165016751911c3608d7"
    "9000ab89dc3100776e729e6ea13091c7a03acacff7fc0cff6eda8a927dec93ca17765e1ee6cbc06c5954ce10"
    "2e097c01d2"
)
BLOB_TX_ROOT = h("4409cc4b699384ba5f8248d92b784713610c5ff9c1de51e9239da0dac76de9ce")
BLOB_RECEIPTS_ROOT = h("bff643da765981266133094092d98c81d2ac8e9a83a7bbda46c3d736f1f874ac")


@pytest.mark.parametrize(
    ("raw", "block_hash", "tx_root"),
    [
        (TLOAD_BLOCK_RLP, TLOAD_BLOCK_HASH, TLOAD_TX_ROOT),
        (LOG2_BLOCK_RLP, LOG2_BLOCK_HASH, LOG2_TX_ROOT),
    ],
    ids=["type2", "legacy"],
)
def test_fixture_block_roundtrip(raw: bytes, block_hash: bytes, tx_root: bytes) -> None:
    block = decode_block(raw, chain_id=1)
    assert block.hash == block_hash
    assert keccak256(block.header.encode()) == block_hash
    assert block.encode() == raw
    assert block.size == len(raw)
    assert transactions_root(block.transactions) == tx_root == block.header.transactions_root
    assert block.withdrawals == ()
    verify_body(block)
    assert decode_header(block.header.encode()) == block.header


def test_fixture_type2_receipt_root() -> None:
    block = decode_block(TLOAD_BLOCK_RLP)
    (tx,) = block.transactions
    assert tx.tx_type == FEE_MARKET_TX
    receipt = Receipt.of(tx.tx_type, True, block.header.gas_used, [])
    assert receipt.bloom == EMPTY_BLOOM == block.header.logs_bloom
    assert receipts_root([receipt]) == TLOAD_RECEIPTS_ROOT == block.header.receipts_root


def test_fixture_log_bloom_and_receipt_root() -> None:
    block = decode_block(LOG2_BLOCK_RLP)
    (tx,) = block.transactions
    assert tx.tx_type == LEGACY_TX
    receipt = Receipt.of(LEGACY_TX, True, block.header.gas_used, [LOG2_LOG])
    assert receipt.bloom == LOG2_BLOOM == block.header.logs_bloom
    assert logs_bloom([LOG2_LOG]) == LOG2_BLOOM
    assert receipts_root([receipt]) == LOG2_RECEIPTS_ROOT == block.header.receipts_root


def test_fixture_blob_tx_and_receipt_roots() -> None:
    tx = decode_transaction(BLOB_TX_WIRE)
    assert tx.tx_type == BLOB_TX
    assert transactions_root([tx]) == BLOB_TX_ROOT
    assert receipts_root([Receipt.of(BLOB_TX, True, 0xA865, [])]) == BLOB_RECEIPTS_ROOT
    # the same body inside a block: the typed transaction is embedded as a byte string
    header = Header(
        parent_hash=ZERO_HASH,
        state_root=ZERO_HASH,
        transactions_root=BLOB_TX_ROOT,
        number=1,
        gas_limit=30_000_000,
        timestamp=1,
        base_fee_per_gas=7,
        blob_gas_used=tx.blob_gas,
    )
    block = Block(header, (tx,))
    raw = block.encode()
    assert rlp.decode(raw)[1] == [BLOB_TX_WIRE]  # type: ignore[index]
    assert decode_block(raw) == block
    verify_body(block)


def test_fixture_genesis_and_fee_updates() -> None:
    genesis = decode_header(rlp.encode(rlp.decode(TLOAD_GENESIS_RLP)[0]))  # type: ignore[index]
    assert genesis.hash == TLOAD_GENESIS_HASH
    assert decode_block(TLOAD_GENESIS_RLP).encode() == TLOAD_GENESIS_RLP
    rebuilt = genesis_header(
        h("d5ee58a029924a1d8beb5c432eee0a27ea9984b54a0ced01febe8eed44109fde"),
        gas_limit=0x10000000000000,
        timestamp=0,
        base_fee=0x0B,
        coinbase=0x2ADC25665018AA1FE0E6BC666DAC8FC2697FF9BA,
        extra_data=b"\x00",
        prev_randao=(0x20000).to_bytes(32, "big"),
        excess_blob_gas=0x60000,
    )
    assert rebuilt == genesis
    assert rebuilt.hash == TLOAD_GENESIS_HASH
    child = decode_block(TLOAD_BLOCK_RLP).header
    assert child.parent_hash == genesis.hash
    assert child.base_fee_per_gas == calc_base_fee(
        genesis.gas_limit, genesis.gas_used, genesis.base_fee_per_gas
    )
    assert child.excess_blob_gas == calc_excess_blob_gas(
        genesis.excess_blob_gas, genesis.blob_gas_used
    )


# ------------------------------------------------------------------ bloom


def _reference_bloom(logs: list[Log]) -> bytes:
    """Second implementation, bit by bit: yellow paper M3:2048 over a byte array."""
    bloom = bytearray(256)
    for log in logs:
        items = [log.address.to_bytes(20, "big")] + [t.to_bytes(32, "big") for t in log.topics]
        for item in items:
            digest = keccak256(item)
            for pair in range(3):
                bit = int.from_bytes(digest[2 * pair : 2 * pair + 2], "big") % 2048
                # bit 0 is the least significant bit of the last byte
                bloom[255 - bit // 8] |= 1 << (bit % 8)
    return bytes(bloom)


def test_bloom_small_example_by_hand() -> None:
    address = 0x00000000000000000000000000000000DEADBEEF
    digest = keccak256(address.to_bytes(20, "big"))
    bits = {((digest[i] << 8) | digest[i + 1]) & 0x7FF for i in (0, 2, 4)}
    expected = bytearray(256)
    for bit in bits:
        expected[255 - (bit >> 3)] |= 1 << (bit & 7)
    bloom = logs_bloom([Log(address, (), b"data is not in the bloom")])
    assert bloom == bytes(expected)
    assert 1 <= sum(bin(b).count("1") for b in bloom) <= 3
    assert logs_bloom([]) == EMPTY_BLOOM


def test_bloom_matches_reference_implementation() -> None:
    logs = [
        Log(
            0x1000 + i,
            tuple(int.from_bytes(keccak256(bytes([i, j])), "big") for j in range(i % 5)),
            b"",
        )
        for i in range(40)
    ]
    assert logs_bloom(logs) == _reference_bloom(logs)
    assert logs_bloom(logs) == bloom_or(*(logs_bloom([log]) for log in logs))
    for log in logs:
        assert bloom_may_contain(logs_bloom(logs), log.address.to_bytes(20, "big"))
    assert not bloom_may_contain(EMPTY_BLOOM, bytes(20))


def test_bloom_or_checks_length() -> None:
    assert bloom_or() == EMPTY_BLOOM
    with pytest.raises(ValueError):
        bloom_or(b"\x00" * 255)


# ---------------------------------------------------------------- receipts


def test_receipt_encoding_shapes() -> None:
    log = Log(0xAA, (1, 2), b"\x01\x02")
    legacy = Receipt.of(LEGACY_TX, True, 21000, [log])
    typed = Receipt.of(FEE_MARKET_TX, False, 50000, [log])
    assert encode_receipt(legacy)[0] >= 0xC0
    assert encode_receipt(typed)[0] == FEE_MARKET_TX
    payload = rlp.decode(encode_receipt(typed)[1:])
    assert payload[0] == b""  # type: ignore[index]  # failure is status 0
    assert rlp.decode(encode_receipt(legacy))[0] == b"\x01"  # type: ignore[index]
    for receipt in (legacy, typed):
        back = decode_receipt(encode_receipt(receipt))
        assert encode_receipt(back) == encode_receipt(receipt)
        assert (back.tx_type, back.success, back.cumulative_gas_used, back.bloom) == (
            receipt.tx_type,
            receipt.success,
            receipt.cumulative_gas_used,
            receipt.bloom,
        )
        assert [(x.address, x.topics, x.data) for x in back.logs] == [(0xAA, (1, 2), b"\x01\x02")]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" + rlp.encode([1, 21000, EMPTY_BLOOM, []]),  # type 0 is never an envelope
        b"\x80",
        rlp.encode([2, 21000, EMPTY_BLOOM, []]),  # status 2
        rlp.encode([1, 21000, bytes(255), []]),
        rlp.encode([1, 21000, EMPTY_BLOOM]),
        rlp.encode([1, 21000, EMPTY_BLOOM, [[bytes(19), [], b""]]]),
        rlp.encode([b"\x00\x01", 21000, EMPTY_BLOOM, []]),
    ],
)
def test_decode_receipt_rejects(raw: bytes) -> None:
    with pytest.raises(InvalidReceipt):
        decode_receipt(raw)


# --------------------------------------------- tries against an independent trie

_KEY = bytes.fromhex("45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8")


def _signed(i: int) -> Transaction:
    kind = (LEGACY_TX, ACCESS_LIST_TX, FEE_MARKET_TX, BLOB_TX)[i % 4]
    fields: dict[str, Any] = dict(chain_id=1, nonce=i, gas_limit=21000 + i, to=0x1234 + i, value=i)
    if kind in (LEGACY_TX, ACCESS_LIST_TX):
        fields["gas_price"] = 10 + i
    else:
        fields.update(max_priority_fee_per_gas=1, max_fee_per_gas=100 + i)
    if kind == BLOB_TX:
        fields.update(max_fee_per_blob_gas=1, blob_versioned_hashes=[b"\x01" + bytes(31)])
    return sign_transaction(_KEY, tx_type=kind, **fields)


def _hexary_root(values: list[bytes]) -> bytes:
    reference = HexaryTrie(db={})
    for index, value in enumerate(values):
        reference[pyrlp.encode(index)] = value
    return reference.root_hash


@pytest.mark.parametrize("count", [0, 1, 2, 16, 17, 128, 129, 300])
def test_transactions_root_matches_hexary_trie(count: int) -> None:
    txs = [_signed(i) for i in range(count)]
    assert transactions_root(txs) == _hexary_root([encode_transaction(tx) for tx in txs])
    if count == 0:
        assert transactions_root(txs) == EMPTY_TRIE_ROOT


@pytest.mark.parametrize("count", [1, 3, 130])
def test_receipts_root_matches_hexary_trie(count: int) -> None:
    receipts = [
        Receipt.of(i % 4, i % 3 != 0, 21000 * (i + 1), [Log(i, (i, i + 1)[: i % 3], bytes(i % 7))])
        for i in range(count)
    ]
    assert receipts_root(receipts) == _hexary_root([encode_receipt(r) for r in receipts])


# ------------------------------------------------------------------ fees


def test_base_fee_update() -> None:
    gwei = 10**9
    assert calc_base_fee(30_000_000, 15_000_000, gwei) == gwei  # at target
    assert calc_base_fee(30_000_000, 30_000_000, gwei) == gwei + gwei // 8  # full: +12.5%
    assert calc_base_fee(30_000_000, 0, gwei) == gwei - gwei // 8  # empty: -12.5%
    assert calc_base_fee(30_000_000, 22_500_000, 800) == 850  # half-way above: +6.25%
    assert calc_base_fee(30_000_000, 7_500_000, 800) == 750  # half-way below: -6.25%
    assert calc_base_fee(30_000_000, 15_000_001, 7) == 8  # rising by at least 1
    assert calc_base_fee(30_000_000, 30_000_000, 1) == 2
    assert calc_base_fee(30_000_000, 0, 7) == 7  # falling by 7 // 8 == 0
    assert calc_base_fee(30_000_000, 0, 8) == 7
    assert calc_base_fee(30_000_001, 15_000_000, 100) == 100  # odd limit: target rounds down
    with pytest.raises(ValueError):
        calc_base_fee(1, 0, 100)


def test_excess_blob_gas_update() -> None:
    target = TARGET_BLOB_GAS_PER_BLOCK
    assert target == 3 * 2**17
    assert calc_excess_blob_gas(0, 0) == 0
    assert calc_excess_blob_gas(0, target) == 0
    assert calc_excess_blob_gas(0, 2 * target) == target  # six blobs
    assert calc_excess_blob_gas(target, 0) == 0
    assert calc_excess_blob_gas(target, target) == target
    assert calc_excess_blob_gas(100, 2**17) == 0
    assert calc_excess_blob_gas(target + 100, 2**17) == 100 + 2**17
    assert calc_excess_blob_gas(2 * target, 2 * target) == 3 * target


# --------------------------------------------------------- header / block codec


def _header(**changes: object) -> Header:
    fields: dict[str, object] = dict(
        parent_hash=keccak256(b"parent"),
        coinbase=0xC0FFEE,
        state_root=keccak256(b"state"),
        number=7,
        gas_limit=30_000_000,
        gas_used=21_000,
        timestamp=1_700_000_000,
        extra_data=b"strike",
        prev_randao=keccak256(b"randao"),
        base_fee_per_gas=10**9,
        blob_gas_used=2**17,
        excess_blob_gas=2**18,
        parent_beacon_block_root=keccak256(b"beacon"),
    )
    fields.update(changes)
    return Header(**fields)  # type: ignore[arg-type]


def test_header_defaults_and_roundtrip() -> None:
    header = _header()
    assert header.ommers_hash == EMPTY_OMMERS_HASH == keccak256(b"\xc0")
    assert header.transactions_root == header.withdrawals_root == EMPTY_TRIE_ROOT
    assert header.nonce == bytes(8) and header.difficulty == 0
    items = rlp.decode(header.encode())
    assert isinstance(items, list) and len(items) == len(HEADER_FIELD_NAMES) == 20
    assert items[2] == (0xC0FFEE).to_bytes(20, "big")
    back = decode_header(header.encode())
    assert back == header and back.hash == header.hash == keccak256(header.encode())
    changed = dataclasses.replace(header, timestamp=header.timestamp + 1)
    assert changed.hash != header.hash


def test_decode_header_rejects() -> None:
    items = rlp.decode(_header().encode())
    assert isinstance(items, list)
    with pytest.raises(InvalidBlock, match="20 fields"):
        decode_header(rlp.encode(items[:19]))  # a Shanghai-shaped header
    with pytest.raises(InvalidBlock, match="20 fields"):
        decode_header(rlp.encode([*items, b""]))  # a Prague-shaped header
    with pytest.raises(InvalidBlock, match="coinbase"):
        decode_header(rlp.encode([*items[:2], bytes(19), *items[3:]]))
    with pytest.raises(InvalidBlock, match="number"):
        decode_header(rlp.encode([*items[:8], b"\x00\x07", *items[9:]]))
    with pytest.raises(InvalidBlock, match="gas_limit"):
        decode_header(rlp.encode([*items[:9], bytes([1] * 9), *items[10:]]))
    with pytest.raises(InvalidBlock, match="parent_hash"):
        decode_header(rlp.encode([bytes(31), *items[1:]]))
    with pytest.raises(InvalidBlock):
        decode_header(_header().encode() + b"\x00")
    with pytest.raises(InvalidBlock):
        decode_header(rlp.encode([*items[:6], [b""], *items[7:]]))


def test_header_validates_fields() -> None:
    with pytest.raises(InvalidBlock):
        _header(logs_bloom=bytes(255))
    with pytest.raises(InvalidBlock):
        _header(nonce=bytes(7))
    with pytest.raises(InvalidBlock):
        _header(number=-1)
    with pytest.raises(InvalidBlock):
        _header(gas_used=2**64)
    with pytest.raises(InvalidBlock):
        _header(coinbase=2**160)


def test_block_with_all_transaction_types_and_withdrawals() -> None:
    txs = tuple(_signed(i) for i in range(8))
    withdrawals = (Withdrawal(5, 6, 0xABCDEF, 10**9), Withdrawal(6, 7, 0x1, 0))
    header = _header(
        transactions_root=transactions_root(txs),
        withdrawals_root=withdrawals_root(withdrawals),
        blob_gas_used=sum(tx.blob_gas for tx in txs),
    )
    block = Block(header, txs, withdrawals)
    raw = block.encode()
    items = rlp.decode(raw)
    assert isinstance(items, list) and len(items) == 4
    assert items[2] == []
    for item, tx in zip(items[1], txs, strict=True):  # type: ignore[arg-type]
        if tx.tx_type == LEGACY_TX:
            assert isinstance(item, list) and rlp.encode(item) == encode_transaction(tx)
        else:
            assert item == encode_transaction(tx)
    assert raw == pyrlp.encode(
        [
            header.fields(),
            [
                pyrlp.decode(encode_transaction(tx))
                if tx.tx_type == LEGACY_TX
                else encode_transaction(tx)
                for tx in txs
            ],
            [],
            [w.fields() for w in withdrawals],
        ]
    )
    back = decode_block(raw)
    assert back == block
    verify_body(back)
    with pytest.raises(InvalidBlock, match="transactions root"):
        verify_body(Block(header, txs[:-1], withdrawals))
    with pytest.raises(InvalidBlock, match="withdrawals root"):
        verify_body(Block(header, txs, withdrawals[:1]))
    with pytest.raises(InvalidBlock, match="blob gas"):
        verify_body(Block(dataclasses.replace(header, blob_gas_used=0), txs, withdrawals))


def test_decode_block_rejects() -> None:
    header_item = rlp.decode(_header().encode())
    legacy = encode_transaction(_signed(0))
    with pytest.raises(InvalidBlock, match="ommers"):
        decode_block(rlp.encode([header_item, [], [header_item], []]))
    with pytest.raises(InvalidBlock, match="typed"):
        decode_block(rlp.encode([header_item, [legacy], [], []]))  # legacy tx as a string
    with pytest.raises(InvalidBlock, match="transaction 0"):
        decode_block(rlp.encode([header_item, [b"\x02\xc0"], [], []]))
    with pytest.raises(InvalidBlock, match="transaction 0"):
        decode_block(rlp.encode([header_item, [rlp.decode(legacy)], [], []]), chain_id=5)
    with pytest.raises(InvalidBlock, match="withdrawal"):
        decode_block(rlp.encode([header_item, [], [], [[1, 2, bytes(19), 3]]]))
    with pytest.raises(InvalidBlock):
        decode_block(rlp.encode([header_item, [], []]))


def test_genesis_header_defaults() -> None:
    genesis = genesis_header(
        keccak256(b"state"), gas_limit=30_000_000, timestamp=1_700_000_000, base_fee=10**9
    )
    assert genesis.number == 0 and genesis.parent_hash == ZERO_HASH
    assert genesis.gas_used == 0 and genesis.logs_bloom == EMPTY_BLOOM
    assert genesis.transactions_root == genesis.receipts_root == EMPTY_TRIE_ROOT
    assert genesis.withdrawals_root == EMPTY_TRIE_ROOT
    assert decode_block(Block(genesis).encode()) == Block(genesis)


def test_block_env_from_header() -> None:
    header = _header()
    env = block_env(header, chain_id=1337)
    assert (env.coinbase, env.number, env.timestamp, env.gas_limit) == (
        0xC0FFEE,
        7,
        1_700_000_000,
        30_000_000,
    )
    assert env.prev_randao == int.from_bytes(keccak256(b"randao"), "big")
    assert (env.base_fee, env.excess_blob_gas, env.chain_id) == (10**9, 2**18, 1337)
