"""Helpers shared by tests and benchmarks (not imported by the application)."""
