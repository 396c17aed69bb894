"""Card fidelity: one region of the vectorized engine replayed through real cards, EDCs and issuers.

The bridge (docs/architecture.md; docs/monthly.md §8): every KPM of the mirrored region holds an
emulated KKS, every disbursement is an issuer credit, every redemption a real terminal-card-issuer
exchange, and at each month end the issuer side must equal the engine's `balance` column to the
rupiah. This is the main differential test between the fast path (`sim.hotpath.monthly` +
`sim.hotpath.disburse`) and the card world (`kks_emulator`). docs/monthly.md § "Card fidelity"
describes the mapping.

Per period, for each household `i` of the region (rows in ascending order, as the engine runs):

* credit: every programme `p` in (BPNT, PKH) whose marker
  `DisbursementState.last_credit[p, i]` moved to the period is an issuer `credit` of
  `sim.hotpath.disburse.entitlements` (programme, period "YYYY-MM", beneficiary = the
  household's pseudonym, idempotency key `credit:<prog>:<YYYY-MM>:<pseudonym>`) into the
  household's savings account at its HIMBARA bank;
* redemption: the engine's draw of docs/monthly.md §4.2 (recomputed with
  `sim.hotpath.disburse.redemption_draws`, and required to reproduce the engine's balance change and
  period totals) is a purse load of exactly that amount from savings (EDC `load`: S1/S2/S3 with the
  issuer) followed by an offline purse purchase of exactly that amount at the bank's e-warong,
  cleared at month end (`Edc.upload`), after which the e-warong is settled;
* return: the issuer has no "return to treasury" operation for an arbitrary amount (`reverse`
  mirrors a whole journal, and a returned balance is generally not a sum of whole credits), so a
  return is mirrored as the closest existing debit of savings: an online savings purchase (ARQC /
  ARPC, `Edc.purchase_savings`) of exactly the returned amount at a merchant account standing for
  the treasury (`MER-KASNEGARA`), never settled.

Month-end checks: per household, savings + card float at the issuer == engine `balance`, and the
card's own purse balance == its float; per bank, the issuer audit (L1-L6 and floats) passes; over
the region, e-warong payouts == redeemed and treasury merchant == returned.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kks_emulator.card import Card, CardProfile, MemoryStore, personalize
from kks_emulator.issuer.host import BANKS, Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.keys import IssuerKeys, card_id
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.inprocess import InProcessTransport
from sim.hotpath import changes as ch
from sim.hotpath.disburse import DisbursementState, disburse, entitlements, redemption_draws
from sim.hotpath.monthly import MonthlyState, run_month
from sim.params import BPNT, PKH, PROGRAMMES, Params
from sim.registry import privacy
from sim.registry.table import Registry

#: merchant id of each bank's e-warong and of the account standing for the state treasury
EWARONG = "EWARONG1"
TREASURY = "KASNEGARA"
_MIRRORED = (BPNT, PKH)  # programmes that credit the household balance (§4.1); PBI goes to BPJS


@dataclass(frozen=True)
class Mismatch:
    """One month-end disagreement between the engine and the card world."""

    period: int
    row: int
    bank: str
    engine: int  # the engine's `balance` (rupiah)
    issuer: int  # savings + float at the issuer (rupiah)
    purse: int  # the card's own purse balance (rupiah)
    card_float: int  # the card's float account at the issuer (rupiah)
    detail: str
    pseudonym: str = ""  # the household's keyed pseudonym (never its NIK)


@dataclass
class BankMonth:
    """One bank's share of a period in the mirrored region (rupiah amounts)."""

    credits: int = 0
    credited: int = 0
    loads: int = 0
    loaded: int = 0
    purchases: int = 0
    redeemed: int = 0
    returns: int = 0
    returned: int = 0
    engine_held: int = 0  # Σ engine balance of the bank's households
    issuer_held: int = 0  # Σ savings + float at the bank
    mismatches: int = 0


@dataclass
class MonthCheck:
    """What one period did in the mirrored region and what its month-end checks found."""

    period: int
    households: int  # rows of the region checked
    accounts: int  # households with a card and an account so far
    credits: int = 0
    credited: int = 0
    purchases: int = 0
    redeemed: int = 0
    returns: int = 0
    returned: int = 0
    #: (row, amount) of every redemption the engine drew in the region, in row order
    redemptions: list[tuple[int, int]] = field(default_factory=list)
    engine_held: int = 0  # Σ engine balance over the region
    issuer_held: int = 0  # Σ savings + float over the region
    mismatches: list[Mismatch] = field(default_factory=list)
    audit_failures: list[str] = field(default_factory=list)
    totals_failures: list[str] = field(default_factory=list)
    #: the same counts per HIMBARA bank ("-" for households the engine never gave an account)
    by_bank: dict[str, BankMonth] = field(default_factory=dict)

    def bank(self, name: str) -> BankMonth:
        """The `BankMonth` of `name`, created empty on first use."""
        return self.by_bank.setdefault(name, BankMonth())

    @property
    def ok(self) -> bool:
        """True when every household, the audits and the region totals agree."""
        return not (self.mismatches or self.audit_failures or self.totals_failures)


@dataclass
class FidelityReport:
    """The result of `run_card_fidelity`: one `MonthCheck` per period."""

    periods: list[int]
    rows: int  # rows of the mirrored region
    banks: dict[str, int]  # households with an account, per bank
    months: list[MonthCheck]

    @property
    def ok(self) -> bool:
        """True when every month-end check of every period passed."""
        return all(m.ok for m in self.months)

    @property
    def mismatches(self) -> list[Mismatch]:
        """Every per-household mismatch, in period then row order."""
        return [x for m in self.months for x in m.mismatches]

    def failures(self) -> list[str]:
        """Every failure as one line (empty when `ok`)."""
        out = []
        for m in self.months:
            out += [f"{x.period} row {x.row} ({x.bank}): engine {x.engine} != issuer {x.issuer}"
                    f" (purse {x.purse}, float {x.card_float}) {x.detail}".rstrip()
                    for x in m.mismatches]
            out += [f"{m.period}: {a}" for a in m.audit_failures + m.totals_failures]
        return out


def period_label(period: int) -> str:
    """The issuer's period text of an engine period (months since Jan 2000): "YYYY-MM"."""
    return f"{2000 + period // 12:04d}-{period % 12 + 1:02d}"


def _unix_time(period: int, day: int) -> int:
    """Noon WIB (05:00 UTC) of day `day` (1-based) of the period's month, as a terminal clock."""
    when = dt.datetime(2000 + period // 12, period % 12 + 1, day, 5, tzinfo=dt.UTC)
    return int(when.timestamp())


def engine_draws(seed: int, period: int, rows: np.ndarray, balance: np.ndarray,
                 params: Params) -> tuple[np.ndarray, np.ndarray]:
    """(amount redeemed, 1-based day) per row for pre-settlement `balance` (docs/monthly.md §4.2).

    The engine's own rule (`redemption_draws`); the caller checks the result against the
    engine's balance change and period totals, so a drift between the two is caught.
    """
    draws = redemption_draws(params, seed, period, rows, balance)
    return draws.amount, draws.day


@dataclass
class _Kpm:
    """One household's card world: its card, the exchange to it, its PIN and bank."""

    row: int
    bank: str
    pseudonym: str
    account: str
    pin: str
    card_hex: str
    exchange: Exchange


class _CardWorld:
    """One issuer host, one e-warong EDC and one treasury EDC per bank, and the KPMs' cards."""

    def __init__(self, workdir: Path, seed: int, clock_text: str) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.keys = {b: IssuerKeys.test_issuer(b) for b in BANKS}
        self.hosts: dict[str, Host] = {}
        self.ewarong: dict[str, Edc] = {}
        self.treasury: dict[str, Edc] = {}
        self.kpm: dict[int, _Kpm] = {}
        self.now = 0
        for n, bank in enumerate(BANKS):
            led = Ledger(workdir / f"issuer-{bank}.db", clock=lambda: clock_text,
                               durable=False)
            host = self.hosts[bank] = Host(led, bank)
            host.open_merchant(f"open-{EWARONG}", EWARONG, f"e-warong {bank}")
            host.open_merchant(f"open-{TREASURY}", TREASURY, "returns to the state treasury")
            ca = {bank: self.keys[bank].ca_public_key}
            for edcs, merchant, tag in ((self.ewarong, EWARONG, b"W"), (self.treasury, TREASURY,
                                                                        b"K")):
                edcs[bank] = Edc(None, b"EDC" + tag + f"{n:04d}".encode(), merchant, host, ca,
                                 clock=lambda: self.now, rng=self.rng.randbytes)

    def close(self) -> None:
        """Close every issuer ledger."""
        for host in self.hosts.values():
            host.close()

    def enrol(self, row: int, bank: str, pseudonym: str) -> _Kpm:
        """Personalise a KKS for `row` and open its savings + float account at `bank`."""
        pan = f"6013{BANKS.index(bank):02d}{row:010d}"
        pin = f"{self.rng.randrange(10**6):06d}"
        store = MemoryStore()
        personalize(store, CardProfile(bank=bank, pan=pan, pin=pin, test_mode=True),
                    self.keys[bank])
        card = Card(store, rng=random.Random(f"{self.seed}:{row}").randbytes)
        transport = InProcessTransport(card)
        exchange = Exchange(transport)
        transport.connect()
        card_hex = card_id(pan, 1).hex().upper()
        account = f"KPM{row:010d}"
        self.hosts[bank].open_account(f"open-{account}", account, f"KPM {pseudonym[:12]}",
                                      pan=pan, card_id=card_hex)
        kpm = self.kpm[row] = _Kpm(row, bank, pseudonym, account, pin, card_hex, exchange)
        return kpm

    def money(self, kpm: _Kpm) -> tuple[int, int, int]:
        """(savings, float, the card's purse balance) of one household."""
        host = self.hosts[kpm.bank]
        edc = self.ewarong[kpm.bank]
        edc.ex = kpm.exchange
        return (host.balance(f"SAV-{kpm.account}"), host.balance(f"FLT-{kpm.card_hex}"),
                edc.balance())


def run_card_fidelity(registry: Registry, params: Params, periods: list[int], workdir: Path,
                      seed: int, *, kabkota: int | None = None, changes_per_month: int = 10,
                      omit_purchases: Collection[tuple[int, int]] = ()) -> FidelityReport:
    """Run the engine for `periods` and mirror the region at card fidelity; check every month end.

    `registry` is updated in place by the engine (`run_month` with a seeded
    `sim.hotpath.changes.random_batch` of `changes_per_month` records, then `disburse` with `seed`).
    The region is the rows of `kabkota` (all rows when None). Issuer ledgers are written to
    `workdir` (one SQLite file per bank; use an empty folder). Households whose `bank` is -1
    get a bank drawn from `seed`. `omit_purchases` holds (period, row) redemptions deliberately
    *not* mirrored: a discrepancy for the negative test, which the month-end check must report.
    Returns a `FidelityReport`; it does not raise on a mismatch (see `FidelityReport.ok`).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(registry)
    region = np.arange(n) if kabkota is None else np.flatnonzero(registry["kabkota"] == kabkota)
    in_region = np.zeros(n, dtype=bool)
    in_region[region] = True
    bank_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xBA4C])))
    drawn = bank_rng.integers(0, len(BANKS), n)
    bank_col = registry["bank"].astype(np.int64)
    bank_of = np.where((bank_col >= 0) & (bank_col < len(BANKS)), bank_col, drawn)
    key = privacy.load_key("households", allow_synthetic=True)
    omit = set(omit_purchases)

    state = MonthlyState()
    ledger = DisbursementState.open(registry)
    world = _CardWorld(workdir, seed, f"{period_label(periods[0])}-01T00:00:00+00:00"
                       if periods else "2000-01-01T00:00:00+00:00")
    pseud: dict[int, str] = {}

    def kpm_of(row: int) -> _Kpm:
        if row in world.kpm:
            return world.kpm[row]
        pseud[row] = privacy.pseudonym(int(registry["nik"][row]), key)
        return world.enrol(row, BANKS[int(bank_of[row])], pseud[row])

    # opening balances (none for a fresh `generate`): one credit per household before period 1
    for row in region[registry["balance"][region] > 0].tolist():
        kpm = kpm_of(row)
        amount = int(registry["balance"][row])
        world.hosts[kpm.bank].credit(f"credit:OPENING:start:{kpm.pseudonym}", "OPENING",
                                     "start", kpm.pseudonym, kpm.account, amount)

    months: list[MonthCheck] = []
    redeemed_total = returned_total = 0
    deferred = ch.ChangeBatch.empty()
    try:
        for k, period in enumerate(periods):
            batch = ch.ChangeBatch.concat([deferred, ch.random_batch(
                registry, changes_per_month, seed * 1000 + k)])
            res = run_month(registry, batch, params, period, state)
            deferred = res.deferred if res.deferred is not None else ch.ChangeBatch.empty()
            before = registry["balance"].copy()
            marks = ledger.last_credit.copy()
            dres = disburse(registry, ledger, params, period, seed)
            after = registry["balance"]
            mc = MonthCheck(period=period, households=len(region), accounts=0)
            label = period_label(period)

            # 1. credits: the markers that moved this period, with the engine's entitlements
            credit = np.zeros(n, dtype=np.int64)
            for p in _MIRRORED:
                rows = np.flatnonzero((ledger.last_credit[p] == period) & (marks[p] < period))
                if len(rows) == 0:
                    continue
                amounts = entitlements(registry, p, rows, params)
                credit[rows] += amounts
                prog = PROGRAMMES[p].upper()
                for row, amount in zip(rows.tolist(), amounts.tolist(), strict=True):
                    if not in_region[row]:
                        continue
                    kpm = kpm_of(row)
                    ans = world.hosts[kpm.bank].credit(
                        f"credit:{prog}:{label}:{kpm.pseudonym}", prog, label, kpm.pseudonym,
                        kpm.account, int(amount))
                    if ans.get("state") != "credited":
                        mc.totals_failures.append(f"credit of row {row} {ans}")
                    mc.credits += 1
                    mc.credited += int(amount)
                    mc.bank(kpm.bank).credits += 1
                    mc.bank(kpm.bank).credited += int(amount)

            # 2. settlement: the engine's draw, which must reproduce its balance change
            mid = before + credit
            spent, day = engine_draws(seed, period, np.arange(n), mid, params)
            gone = mid - after
            returned = gone - spent
            bad = (returned < 0) | ((returned > 0) & ((spent > 0) | (after != 0)))
            if bad.any() or int(spent.sum()) != dres.redeemed or int(
                    returned.sum()) != dres.returned:
                mc.totals_failures.append(
                    f"draws do not reproduce the engine: rows {np.flatnonzero(bad)[:10].tolist()}"
                    f", redeemed {int(spent.sum())} vs {dres.redeemed}, returned "
                    f"{int(returned.sum())} vs {dres.returned}")
            for row in region[(spent[region] > 0) | (returned[region] > 0)].tolist():
                kpm = kpm_of(row)
                world.now = _unix_time(period, int(day[row]))
                amount = int(spent[row])
                if amount > 0:
                    mc.purchases += 1
                    mc.redeemed += amount
                    mc.redemptions.append((row, amount))
                    if (period, row) in omit:
                        continue
                    edc = world.ewarong[kpm.bank]
                    edc.ex = kpm.exchange
                    edc.load(amount, kpm.pin)
                    per_bank = mc.bank(kpm.bank)
                    per_bank.loads += 1
                    per_bank.loaded += amount
                    edc.purchase_purse(amount, kpm.pin)
                    per_bank.purchases += 1
                    per_bank.redeemed += amount
                back = int(returned[row])
                if back > 0:
                    mc.returns += 1
                    mc.returned += back
                    mc.bank(kpm.bank).returns += 1
                    mc.bank(kpm.bank).returned += back
                    edc = world.treasury[kpm.bank]
                    edc.ex = kpm.exchange
                    yymmdd = dt.datetime.fromtimestamp(world.now, dt.UTC).strftime("%y%m%d")
                    rec = edc.purchase_savings(back, kpm.pin, date=yymmdd)
                    if not rec.approved:
                        mc.totals_failures.append(f"return of row {row} declined: {rec.reason}")
            redeemed_total += mc.redeemed
            returned_total += mc.returned

            # 3. month end: clear, settle, audit, compare
            payouts = treasury = 0
            for bank, host in world.hosts.items():
                edc = world.ewarong[bank]
                if edc.batch.items:
                    cleared = edc.upload(batch_no=period)
                    if cleared["refused"]:
                        mc.totals_failures.append(f"{bank} clearing refused {cleared['refused']}")
                host.settle(f"settle:{EWARONG}:{period}", EWARONG)
                payouts += host.balance(host.settlement_code) + host.balance(f"MER-{EWARONG}")
                treasury += host.balance(f"MER-{TREASURY}")
                report = host.audit(strict=False)
                mc.audit_failures += [f"{bank} {c.name}: {c.detail}" for c in report.checks
                                      if not c.ok]
            for row in region.tolist():
                engine = int(after[row])
                mc.engine_held += engine
                kpm = world.kpm.get(row)
                if kpm is None:
                    if engine:
                        mc.bank("-").engine_held += engine
                        pseud.setdefault(row, privacy.pseudonym(int(registry["nik"][row]), key))
                        mc.mismatches.append(Mismatch(period, row, "-", engine, 0, 0, 0,
                                                      "no card or account", pseud[row]))
                        mc.bank("-").mismatches += 1
                    continue
                sav, flt, purse_bal = world.money(kpm)
                mc.issuer_held += sav + flt
                per_bank = mc.bank(kpm.bank)
                per_bank.engine_held += engine
                per_bank.issuer_held += sav + flt
                if sav + flt != engine or purse_bal != flt:
                    mc.mismatches.append(Mismatch(period, row, kpm.bank, engine, sav + flt,
                                                  purse_bal, flt, f"savings {sav}",
                                                  kpm.pseudonym))
                    per_bank.mismatches += 1
            mc.accounts = len(world.kpm)
            if payouts != redeemed_total:
                mc.totals_failures.append(f"e-warong payouts {payouts} != redeemed "
                                          f"{redeemed_total}")
            if treasury != returned_total:
                mc.totals_failures.append(f"treasury {treasury} != returned {returned_total}")
            months.append(mc)
    finally:
        world.close()
    banks = {b: sum(1 for x in world.kpm.values() if x.bank == b) for b in BANKS}
    return FidelityReport(periods=list(periods), rows=len(region), banks=banks, months=months)

