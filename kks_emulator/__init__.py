"""The KKS combo card (savings + e-money purse), its issuer host, EDC terminal and transports."""

__version__ = "0.1.0"
