"""The EDC terminal: the T=0 exchange layer, EMV/purse flows and batch upload.

It reaches a card through any `kks_emulator.transport.base.Transport`.
"""
