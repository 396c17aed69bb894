"""The EDC terminal: transports, the T=0 exchange layer, EMV/purse flows and batch upload."""
