"""The national bansos flow model (SimPy) and the monthly penetapan/disbursement hot path."""

__version__ = "0.1.0"
