"""Primitive types and encodings: hex helpers and RLP."""
