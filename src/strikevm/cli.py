"""Command line: ``strikevm node``, ``statetest``, ``blocktest``, ``verify-block``, ``bench``,
``oracle``, ``account``, ``demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strikevm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    st = sub.add_parser("statetest", help="run Ethereum GeneralStateTests (Cancun)")
    st.add_argument("paths", nargs="+", help="fixture files or folders")
    st.add_argument("--json", action="store_true", help="one JSON object per case")
    st.add_argument("--engine", choices=("fast", "reference"), default="fast")
    st.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (0: all cores)")

    bt = sub.add_parser("blocktest", help="run Ethereum BlockchainTests (Cancun)")
    bt.add_argument("paths", nargs="+", help="fixture files or folders")
    bt.add_argument("--json", action="store_true", help="one JSON object per test")
    bt.add_argument("--engine", choices=("fast", "reference"), default="fast")
    bt.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (0: all cores)")
    bt.add_argument("--exec-workers", type=int, default=0,
                    help="executors per block (chain.parallel; 0: the cores, 1: one by one)")  # fmt: skip

    from strikevm.tools import bench

    bn = sub.add_parser("bench", help="run EVM benchmark workloads")
    bench.add_arguments(bn)

    from strikevm import node_cli

    nd = sub.add_parser("node", help="run the dev node (JSON-RPC over HTTP and WebSocket)")
    node_cli.add_arguments(nd)

    vb = sub.add_parser("verify-block", help="re-execute a block from its witness alone")
    vb.add_argument("bundle", nargs="?", help="rlp([parent_header, block, witness]) file")
    vb.add_argument("--export", type=int, metavar="N", help="write block N's bundle instead")
    vb.add_argument("--datadir", help="node data directory (with --export)")
    vb.add_argument("-o", "--out", help="bundle file to write (with --export)")
    vb.add_argument("--chain-id", type=int, default=1)
    vb.add_argument("--exec-workers", type=int, default=0,
                    help="executors for the block (chain.parallel; 0: the cores, 1: one by one)")  # fmt: skip

    from strikevm.tools import oracle_cli

    orc = sub.add_parser("oracle", help="publish oracle prices, show a feed")
    oracle_cli.add_arguments(orc)

    from strikevm.tools import account_cli, demo

    ac = sub.add_parser(
        "account", help="show a clearinghouse account: collateral, positions, margin"
    )
    account_cli.add_arguments(ac)

    dm = sub.add_parser("demo", help="a dev node with live prices, market makers and takers")
    demo.add_arguments(dm)

    from strikevm.tools import risk_cli

    rk = sub.add_parser("risk", help="insurance fund, accounts at risk, recent liquidations")
    risk_cli.add_arguments(rk)

    args = parser.parse_args(argv)
    if args.command == "account":
        return account_cli.main(args)
    if args.command == "demo":
        return demo.main(args)
    if args.command == "risk":
        return risk_cli.main(args)
    if args.command == "oracle":
        return oracle_cli.main(args)
    if args.command == "verify-block":
        from strikevm.tools import verify_block

        return verify_block.main(
            args.bundle,
            datadir=args.datadir,
            export=args.export,
            out=args.out,
            chain_id=args.chain_id,
            workers=_exec_workers(args.exec_workers),
        )
    if args.command == "node":
        return node_cli.run(args)
    if args.command in ("statetest", "blocktest"):
        from strikevm.tools import blocktest, statetest

        try:
            if args.command == "blocktest":
                return blocktest.main(args.paths, as_json=args.json, engine=args.engine,
                                      jobs=args.jobs, workers=_exec_workers(args.exec_workers))  # fmt: skip
            return statetest.main(args.paths, as_json=args.json, engine=args.engine, jobs=args.jobs)
        except statetest.FixtureError as exc:
            print(f"strikevm {args.command}: {exc}", file=sys.stderr)
            return 2
    if args.command == "bench":
        return bench.main(
            args.paths,
            as_json=args.json,
            engine=args.engine,
            repeat=args.repeat,
            budget=args.budget,
        )
    parser.error(f"unknown command {args.command}")
    return 2


def _exec_workers(given: int) -> int:
    from strikevm.chain.parallel import default_workers

    return given if given > 0 else default_workers()


if __name__ == "__main__":
    sys.exit(main())
