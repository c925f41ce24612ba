"""Native finance: integer fixed-point math, option pricing, and (later) the system contracts."""
