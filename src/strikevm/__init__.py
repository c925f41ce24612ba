"""StrikeVM: a deterministic EVM execution environment for on-chain derivatives."""

__version__ = "0.1.0"
