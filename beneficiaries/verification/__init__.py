"""Verification of beneficiaries against the national population database."""
