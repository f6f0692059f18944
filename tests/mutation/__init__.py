"""Tests written to kill surviving mutants of the modules that decide answers (benchmarks/mutation.py)."""
