"""Tests of the simulation side (registry, monthly engine, flow model)."""
