"""`kks demo`: one BPNT month on one KKS, end to end, in process.

Personalise a KKS with the deterministic test keys, open the KPM's savings account and an
e-warong at the issuer (BRI), credit one BPNT month, load the purse from savings at the e-warong's
EDC, buy the food basket offline with the PIN (the card signs the record), upload the day's batch
so the issuer clears the record, settle the e-warong, then print the ledger and its audit.

Amounts (docs/calibration.md [BPNT-AMOUNT]): BPNT / Program Sembako pays Rp 200,000 per KPM per
month from 2021 to 2025 (§2.1, e.g. CNBC Indonesia 25 May 2021, sample basket rice 10 kg, 15 eggs,
chicken/fish); 85-95% of the credited value is redeemed within the month in the e-warong era (§4, an
EST), so the basket here spends Rp 185,000 (92.5%) and Rp 15,000 stays on the card. Basket prices
are illustrative.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from kks_emulator.cli.issuer import audit_table, console, ledger_table, rupiah

BANK = "BRI"
PAN = "6013010000000001"
PSN = 1
PIN = "123456"
ACCOUNT = "0001"
BENEFICIARY = "KPM-0001"
MERCHANT = "EW-0001"
TERMINAL_ID = b"EDC00001"
PERIOD = "2026-11"
BPNT_MONTH = 200_000
BASKET = (("beras (rice) 10 kg", 120_000), ("telur (eggs) 15", 30_000),
          ("ayam (chicken) 0.5 kg", 35_000))
#: The business clock of the demo: 2026-11-18 10:00 WIB (03:00 UTC), fixed for reproducibility.
NOW = 1_795_000_000 - 1_795_000_000 % 86400 + 3 * 3600
OUTPUTS = ("card.kks", "issuer-BRI.db", "issuer-BRI.db-wal", "issuer-BRI.db-shm",
           "edc-batch.jsonl", "apdu-transcript.jsonl", "ledger.json")


@dataclass
class DemoResult:
    """What the demo did: its steps (for the story), the host, and the card's final balance."""

    steps: list[tuple[str, str]]
    host: Any
    purse_balance: int
    out: Path


def run_demo(out: Path) -> DemoResult:
    """Run the whole story into directory `out` (files listed in OUTPUTS are replaced)."""
    from kks_emulator.card import Card, CardProfile, FileStore, personalize
    from kks_emulator.errors import InputError
    from kks_emulator.issuer.host import Host
    from kks_emulator.issuer.ledger import Ledger
    from kks_emulator.keys import IssuerKeys, card_id
    from kks_emulator.terminal.batch import Batch
    from kks_emulator.terminal.edc import Edc
    from kks_emulator.terminal.exchange import Exchange
    from kks_emulator.transport.inprocess import InProcessTransport

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot use as the demo directory ({exc.strerror})") from None
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    steps: list[tuple[str, str]] = []
    keys = IssuerKeys.test_issuer(BANK)
    rng = random.Random(20261118)

    store = FileStore(out / "card.kks")
    personalize(store, CardProfile(bank=BANK, pan=PAN, psn=PSN, pin=PIN, name="KPM DEMO",
                                   test_mode=True), keys)
    cid = card_id(PAN, PSN).hex().upper()
    steps.append(("personalise", f"KKS {BANK} PAN {PAN} PSN {PSN:02d}, card id {cid}"))

    stamp = "2026-11-18T03:00:00+00:00"
    host = Host(Ledger(out / "issuer-BRI.db", clock=lambda: stamp), BANK)
    host.open_account(f"open-{ACCOUNT}", ACCOUNT, BENEFICIARY, pan=PAN, card_id=cid)
    host.open_merchant(f"open-{MERCHANT}", MERCHANT, "e-warong Sejahtera")
    steps.append(("open accounts", f"SAV-{ACCOUNT} (KPM savings + purse float), MER-{MERCHANT}"))
    credit = host.credit(f"credit-BPNT-{PERIOD}-{BENEFICIARY}", "BPNT", PERIOD, BENEFICIARY,
                         ACCOUNT, BPNT_MONTH)
    steps.append(("credit BPNT", f"{rupiah(BPNT_MONTH)} for {PERIOD}: {credit['state']}"))

    card = Card(FileStore(out / "card.kks", create=False), rng=rng.randbytes)
    with (out / "apdu-transcript.jsonl").open("w") as transcript:
        transport = InProcessTransport(card)
        edc = Edc(Exchange(transport, transcript, clock=lambda: stamp), TERMINAL_ID, MERCHANT,
                  host,
                  {BANK: keys.ca_public_key}, clock=lambda: NOW, rng=rng.randbytes,
                  batch=Batch.open(out / "edc-batch.jsonl"))
        edc.insert()
        loaded = edc.load(BPNT_MONTH, PIN)
        steps.append(("load purse", f"{rupiah(loaded.amount)} from savings, issuer-authorised "
                                    f"(S1/S2/S3); purse {rupiah(loaded.balance)}"))
        total = sum(price for _, price in BASKET)
        receipt = edc.purchase_purse(total, PIN)
        items = ", ".join(f"{name} {rupiah(price)}" for name, price in BASKET)
        steps.append(("buy food", f"{items}; offline purse purchase with PIN, counter "
                                  f"{receipt.record.counter}, ECDSA-signed record kept"))
        cleared = edc.upload(1)
        steps.append(("clear", f"{len(cleared['accepted'])} record(s), "
                               f"{rupiah(cleared['total'])} to MER-{MERCHANT}"))
        purse_balance = edc.balance()
        edc.remove()
    settled = host.settle(f"settle-{MERCHANT}-{PERIOD}", MERCHANT)
    steps.append(("settle", f"{rupiah(settled['amount'])} paid out to the e-warong"))
    report = host.audit(strict=False)
    (out / "ledger.json").write_text(json.dumps({
        "bank": BANK, "balances": host.ledger.balances(), "purse_balance": purse_balance,
        "audit": {c.name: c.ok for c in report.checks}, "audit_ok": report.ok,
    }, indent=2, sort_keys=True) + "\n")
    return DemoResult(steps, host, purse_balance, out)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="results/demo",
              show_default=True, help="Directory for the card file, ledger and transcript.")
def demo(out: Path) -> None:
    """Card demo: personalise a KKS, credit a BPNT month, load, buy food, clear, settle."""
    result = run_demo(out)
    con = console()
    story = Table(title="KKS demo: one BPNT month", title_justify="left")
    story.add_column("step")
    story.add_column("what happened")
    for step, what in result.steps:
        story.add_row(step, what)
    con.print(story)
    try:
        con.print(ledger_table(result.host, f"{BANK} issuer ledger after the month"))
        report = result.host.audit(strict=False)
        con.print(audit_table(report))
        con.print(f"purse balance left on the card: {rupiah(result.purse_balance)}; "
                  f"files in {result.out}")
        report.raise_if_failed()
    finally:
        result.host.close()
