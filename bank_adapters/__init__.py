"""The adapter protocol, one module per transport, routing, and the bank simulator."""
