"""Chain layer: transactions, blocks, receipts, execution and the node."""
