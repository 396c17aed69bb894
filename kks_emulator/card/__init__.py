"""The emulated KKS combo card (sans-I/O): `Card`, its stores, profile and personalisation.

    store = MemoryStore()                     # or FileStore(path)
    keys = IssuerKeys.test_issuer("BRI")
    personalize(store, CardProfile(bank="BRI", pan=..., pin="123456"), keys)
    card = Card(store)
    atr = card.power_on()
    response = card.transmit(bytes.fromhex("00A404000E315041592E5359532E444446303100"))
"""

from kks_emulator.card.card import Card
from kks_emulator.card.profile import CardProfile, personalize
from kks_emulator.card.store import CUT_MODES, FileStore, MemoryStore, PowerCut, Store

__all__ = ["CUT_MODES", "Card", "CardProfile", "FileStore", "MemoryStore", "PowerCut", "Store",
           "personalize"]
