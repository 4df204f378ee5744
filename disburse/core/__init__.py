"""The shared kernel: config, database, unit of work, errors, clock, audit trail, keyring,
users and sign-ins, signing primitives and private files.

Every other package may import it; it imports no domain and no entry point.
"""
