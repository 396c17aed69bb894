"""A read-only summary of a card's persistent state (for `kks card info` and tests)."""

from __future__ import annotations

from kks_emulator.card.card import Card
from kks_emulator.card.store import Store
from kks_emulator.card.sw import SwError
from kks_emulator.errors import StoreError


def card_info(store: Store) -> dict[str, object]:
    """Power the card on over `store` and summarise it (no command is sent, nothing written
    except the completion of an interrupted transaction)."""
    card = Card(store)
    card.power_on()
    if card.lifecycle == "blank":
        return {"lifecycle": "blank"}
    if card.static is None:
        raise StoreError("card static data failed its integrity check")
    st = card.static
    out: dict[str, object] = {
        "lifecycle": card.lifecycle, "bank": st.bank, "pan": st.pan, "psn": st.psn,
        "name": st.name, "expiry": st.expiry, "card_id": st.card_id.hex().upper(),
        "policy": st.policy.name,
        "pin_threshold": st.pin_threshold, "test_mode": st.test_mode,
    }
    try:
        wallet = card.purse_record()
        emv = card.emv_record()
        pin = card.pin_record()
    except SwError:
        out["integrity"] = "FAILED"
        return out
    try:
        policy = card.policy()
    except SwError:
        out["integrity"] = "FAILED"
        return out
    out.update({
        "registered": policy.registered, "cap": policy.cap,
        "monthly_limit": policy.monthly_limit, "limit_basis": policy.limit_basis,
        "balance": wallet.balance, "counter": wallet.counter, "month": wallet.month,
        "month_incoming": wallet.month_incoming, "month_all": wallet.month_all,
        "log_records": min(wallet.log_count, st.log_size), "atc": emv.atc,
        "last_online_atc": emv.last_online_atc, "pin_tries_left": pin.ptc,
        "pin_try_limit": pin.ptl, "integrity": "ok",
    })
    card.power_off()
    return out
