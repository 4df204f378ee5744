"""Benchmarks: throughput and peak memory of the bulk paths, measured, never asserted."""
