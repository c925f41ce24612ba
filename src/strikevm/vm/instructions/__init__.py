"""Instruction semantics, one module per family; ``table`` assembles the opcode table."""
