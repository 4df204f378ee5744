"""Programmes, beneficiaries, list importers, validation rules, the population-registry client
and verification."""
