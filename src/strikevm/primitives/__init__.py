"""Primitive types and encodings: 256-bit word helpers, hex, RLP."""
