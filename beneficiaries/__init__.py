"""Programmes, beneficiaries, list importers, validation rules and the population registry."""
