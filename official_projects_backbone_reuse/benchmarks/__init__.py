"""Benchmarks that a person runs by hand (`python -m ...`), not in the tests."""
