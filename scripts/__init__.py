"""Thin entry points: benchmarks, demos, reproduction scripts."""
