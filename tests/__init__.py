"""Test suite of the KKS bansos testbed."""
