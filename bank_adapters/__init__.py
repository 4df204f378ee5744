"""The adapter protocol, one module per transport, adapter choice, banks and the outbox."""
