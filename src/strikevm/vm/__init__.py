"""The Ethereum Virtual Machine: interpreter, block compiler, precompiles, system registry."""
