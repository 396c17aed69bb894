"""Benchmark-only code: peers the hot path is measured against (never used by a scenario run)."""
