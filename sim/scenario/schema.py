"""The scenario schema: every table, key, type, bound and meaning, as data.

`sim.scenario` validates against it before anything runs, and `docs/scenarios.md` carries the same
table (a test checks the two agree). Rates are per real household or KPM; capacities are real
counts (`sim.model.frame` explains how a sampled territory keeps real loads per unit). Times are
in days unless the key says otherwise; money is integer rupiah.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

#: longest string value, and most items in a list or table, unless a key says otherwise
MAX_STR = 200
MAX_ITEMS = 10_000
NUMERIC_KINDS = ("int", "float", "prob", "ints", "shares", "factors", "regional_shares")
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


@dataclass(frozen=True)
class Key:
    """One scenario key: its *kind*, bounds, allowed *choices*, *default* (None = required)."""

    kind: str  # int, float, prob, bool, str, date, dates, ints, strs, shares, factors, outages,
    # regional_shares
    doc: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    #: how *pattern* reads to a person (for messages and docs)
    pattern_doc: str = ""
    #: strings: longest accepted value and a regular expression the whole value must match
    max_len: int = MAX_STR
    pattern: str | None = None
    #: lists and tables: most items accepted
    max_items: int = MAX_ITEMS

    @property
    def numeric(self) -> bool:
        """True for kinds whose values (or items) are numbers, which need both bounds."""
        return self.kind in NUMERIC_KINDS

    def expected(self) -> str:
        """What a valid value looks like, for error messages and docs."""
        base = {
            "int": "an integer", "float": "a number", "prob": "a probability in [0, 1]",
            "bool": "true or false", "str": "a string", "date": "a date (YYYY-MM-DD)",
            "dates": "a list of dates", "ints": "a list of integers", "strs": "a list of strings",
            "shares": "a table of name = share (shares in [0, 1], summing to 1)",
            "factors": f"a table of code = factor (factors in [{_fmt(self.lo or 0)}, "
                       f"{_fmt(self.hi or 0)}])",
            "outages": "a list of {start = date, end = date} tables with start <= end",
            "regional_shares": "a table of province code = {name = share, ...} (shares in [0, 1], "
                               "summing to 1 per province)",
        }[self.kind]
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("shares", "factors", "prob", "regional_shares"):
            return base
        if self.kind == "str":
            return f"{self.pattern_doc or base} of at most {self.max_len} characters"
        if self.lo is not None and self.hi is not None:
            return f"{base} in [{_fmt(self.lo)}, {_fmt(self.hi)}]"
        if self.lo is not None:
            return f"{base} >= {_fmt(self.lo)}"
        return base


def _fmt(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):_}" if abs(x) >= 100_000 and x != 2**63 - 1 else str(int(x))
    return str(x)


_REQ = None
NO_OUTAGES: list = []

#: table -> key -> Key. Top-level non-table keys: `extends` (a file name, resolved relative to the
#: scenario) only.
SCHEMA: dict[str, dict[str, Key]] = {
    "scenario": {
        "name": Key("str", "short name, used in reports and as the default results folder",
                    max_len=64, pattern=NAME_PATTERN,
                    pattern_doc="a name of letters, digits, '_', '.', '-' (not starting "
                                "with '.', '_' or '-')"),
        "question": Key("str", "the policy question this scenario answers", max_len=2000),
        "start": Key("date", "first simulated day"),
        "months": Key("int", "horizon in months", lo=1, hi=120),
        "seed": Key("int", "root seed of every random stream", lo=0, hi=2**63 - 1),
    },
    "territory": {
        "scope": Key("str", "what to simulate", choices=("national", "provinces", "kabkota")),
        "codes": Key("strs", "province codes ('33') or kab/kota codes ('33.02') for the scope",
                     default=[]),
        "fraction": Key("float", "sampling fraction of households (1 = full resolution); "
                        "desa, kecamatan and kab/kota pools serve virtual units of a real "
                        "unit's size, national pools are scaled, totals are weighted by "
                        "1/fraction",
                        lo=1e-6, hi=1.0),
        "household_size": Key("float", "persons per household (KK)", lo=1.0, hi=10.0),
        "context": Key("str", "'alone': quotas, target groups and national pools re-based on "
                       "the territory; 'national': the whole country simulated, the territory "
                       "at territory.fraction and every other kab/kota at context_fraction "
                       "(national quotas, deciles, pools and poverty lines; the outputs report "
                       "the territory, sim/model/nation.py)",
                       default="alone", choices=("alone", "national")),
        "context_fraction": Key("float", "sampling fraction of the rest of the country with "
                                "context = 'national' (at most territory.fraction)",
                                default=0.002, lo=1e-5, hi=0.05),
    },
    "calendar": {
        "weekend": Key("ints", "ISO weekdays not worked (6 Sat, 7 Sun)", lo=1, hi=7),
        "holidays": Key("dates", "national holidays and cuti bersama (not worked)"),
    },
    "registration": {
        "rtrw_per_1000": Key("float", "RT/RW proposals per 1000 households per year",
                             lo=0, hi=1000),
        "rtrw_targeting": Key("float", "how strongly RT/RW proposals favour the poor "
                              "(0 = at random)", lo=0, hi=100),
        "self_registration": Key("bool", "Cek Bansos 'Daftar Usulan' self-registration open"),
        "self_per_1000": Key("float", "self-registrations per 1000 households per year",
                             lo=0, hi=1000),
        "self_targeting": Key("float", "how strongly self-registrants are poor", lo=0, hi=100),
        "shock_per_1000": Key("float", "households per 1000 per year whose situation worsens "
                              "and who report to the PKH facilitator or Dinsos", lo=0, hi=1000),
        "shock_factor": Key("float", "consumption multiplier after a shock", lo=0.01, hi=1.0),
        "pmks_per_1000": Key("float", "PMKS proposed by LKS sponsors per 1000 households per "
                             "year (online route)", lo=0, hi=1000),
    },
    "verification": {
        "musdes_working_day": Key("int", "working day of the month the musdes is held", lo=1,
                                  hi=23),
        "musdes_drop_nonpoor": Key("prob", "share of non-poor prelist entries the musdes drops"),
        "verval_days": Key("float", "officer-days of field verval per household (mean)",
                           lo=0.001, hi=365),
        "verval_cv": Key("float", "coefficient of variation of verval time", lo=0, hi=10),
        "verval_noise": Key("float", "sd of the log error of the verval welfare assessment",
                            lo=0, hi=10),
        "pass_quantile": Key("prob", "a proposal passes verval when its assessed consumption is "
                             "below this quantile of the territory's households"),
        "siks_days": Key("float", "operator-days of SIKS-NG entry per household", lo=0.001, hi=365),
        "dinsos_days": Key("float", "Dinsos officer-days of checks per household",
                           lo=0.001, hi=365),
        "dukcapil_fix_prob": Key("prob", "share of unmatched (not padan) records corrected"),
        "dukcapil_fix_days": Key("float", "mean days to correct a record at Dukcapil",
                                 lo=0, hi=3650),
        "bupati_working_day": Key("int", "working day of the month of the Bupati/Walikota "
                                  "sign-off (BA due at Kemensos by the 25th)", lo=1, hi=23),
        "kemensos_days": Key("float", "Kemensos officer-days per record", lo=0.0001, hi=365),
        "pmks_lks_days": Key("float", "days for Dinsos to verify an LKS sponsor's documents",
                             lo=0, hi=3650),
        "musdes_every_months": Key("int", "months between musdes in a desa (1 = every month)",
                                   default=1, lo=1, hi=12),
        "musdes_every_by_kabkota": Key("factors", "months between musdes per kab/kota code "
                                       "('33.71' = 3), replacing musdes_every_months there",
                                       default={}, lo=1, hi=12),
        "appeal_prob": Key("prob", "share of households rejected at verval who appeal to "
                           "Dinsos (their own channel: no musdes, a new verval)", default=0.0),
        "appeal_wait_days": Key("float", "days before a rejected household may be proposed "
                                "again", default=90.0, lo=0, hi=3650),
    },
    "penetapan": {
        "cadence": Key("str", "how often the Minister decrees", choices=("monthly", "quarterly")),
        "decree_working_day": Key("int", "working day of the month of the decree", lo=1, hi=23),
        "rerank_every_months": Key("int", "months between full re-rankings of every household "
                                   "(DTSEN quarterly update = 3; 0 = never): the decree then "
                                   "takes the full path of the engine", default=0, lo=0, hi=12),
        "rerank_refresh": Key("prob", "share of DTKS households whose data (score) is collected "
                              "afresh at a re-ranking", default=0.0),
    },
    "capacity": {
        "verval_per_desa": Key("int", "verval officers per desa/kelurahan", lo=1, hi=1000),
        "siks_per_desa": Key("int", "SIKS-NG operators per desa/kelurahan", lo=1, hi=1000),
        "dinsos_per_kabkota": Key("int", "Dinsos verification officers per kab/kota",
                                  lo=1, hi=100_000),
        "kemensos_officers": Key("int", "Kemensos (Pusdatin) processing officers, national",
                                 lo=1, hi=100_000),
        "burekol_per_branch_day": Key("int", "accounts a HIMBARA bank opens per kab/kota per "
                                      "working day (burekol)", lo=1, hi=1_000_000),
        "printer_cards_per_day": Key("int", "KKS cards printed per working day, national",
                                     lo=1, hi=10_000_000),
        "ewarong_kpm_ratio": Key("int", "BPNT KPM per e-warong agent", lo=1, hi=1_000_000),
        "pos_kpm_per_officer_day": Key("int", "KPM a PT Pos paying officer serves per day",
                                       lo=1, hi=100_000),
        "pos_officers_per_kecamatan": Key("int", "PT Pos paying officers per kecamatan",
                                          lo=1, hi=10_000),
        "atm_per_kecamatan": Key("int", "ATMs a KPM of a kecamatan cashes out at (one queue; "
                                 "PKH in the e-warong channel, every KPM in the bank channel)",
                                 default=6, lo=1, hi=10_000),
    },
    "issuance": {
        "bank_shares": Key("shares", "share of new accounts per HIMBARA bank", lo=0, hi=1),
        "bank_shares_by_province": Key("regional_shares", "share of new accounts per HIMBARA "
                                       "bank in a province, replacing the national bank_shares "
                                       "there (Aceh: BSI only)", default={}, lo=0, hi=1),
        "burekol_fail": Key("prob", "share of account openings failing on data (gagal burekol)"),
        "burekol_retry_days": Key("float", "days to fix the data and retry", lo=0, hi=3650),
        "print_batch_every": Key("int", "working days between printing batches", lo=1, hi=250),
        "printer_outages": Key("outages", "periods the card printer is down", default=NO_OUTAGES),
        "wrong_data_prob": Key("prob", "share of cards printed with wrong data and reprinted"),
        "post_days_median": Key("float", "median days of delivery by post", lo=0, hi=3650),
        "post_days_sigma": Key("float", "log-sd of post delivery days", lo=0, hi=5),
        "distribution_every": Key("int", "working days between card distributions at the "
                                  "community point", lo=1, hi=250),
        "not_collected_prob": Key("prob", "chance a KPM misses a distribution/activation day"),
        "max_collection_tries": Key("int", "distributions before an uncollected card is returned",
                                    lo=1, hi=100),
    },
    "disbursement": {
        "channel": Key("str", "how BPNT is redeemed", choices=("ewarong", "pos", "bank")),
        "tahap_months": Key("int", "months per credit (1 monthly, 3 quarterly tahap)", lo=1,
                            hi=12),
        "credit_working_day": Key("int", "working day of the month credits are posted", lo=1,
                                  hi=23),
        "redeem_prob": Key("prob", "chance a KPM with a balance redeems in a month (engine "
                            "redeem_bp)"),
        "full_spend_prob": Key("prob", "chance a redeeming KPM spends the whole balance (engine "
                               "full_spend_bp; cash channels always withdraw everything)"),
        "redeem_days": Key("int", "KPM visit within this many days after the credit (engine "
                           "redeem_days)", lo=1, hi=28),
        "pos_pay_days": Key("int", "days PT Pos pays out at the community point per credit",
                            lo=1, hi=28),
        "travel_minutes_median": Key("float", "median travel time to the agent (minutes)",
                                     lo=0, hi=1440),
        "open_hour": Key("float", "agent opening hour", lo=0, hi=24),
        "close_hour": Key("float", "agent closing hour", lo=0, hi=24),
        "service_minutes": Key("float", "mean service time per KPM at an e-warong",
                               lo=0.01, hi=1440),
        "service_cv": Key("float", "coefficient of variation of service time (1 = exponential)",
                          lo=0, hi=10),
        "restock_every": Key("int", "working days between e-warong restocks", lo=1, hi=250),
        "stock_cover": Key("float", "stock delivered per restock, as a multiple of the expected "
                           "demand between restocks", lo=0, hi=100),
        "bank_collect_days": Key("float", "days a bank-channel KPM has to cash out before PT Pos "
                                 "takes over", lo=0, hi=3650),
        "return_after_months": Key("int", "months unspent before a balance is returned",
                                   lo=1, hi=120),
        "patience_minutes_median": Key("float", "median minutes a KPM waits in an agent's queue "
                                       "before giving up (log-normal)", default=60.0,
                                       lo=0.1, hi=1440),
        "patience_sigma": Key("float", "log-sd of the patience", default=0.8, lo=0, hi=5),
        "max_visits": Key("int", "visits a KPM makes in a period before it gives up collecting",
                          default=3, lo=1, hi=20),
        "visit_window_days": Key("float", "days after the credit a KPM who gave up may come "
                                 "back", default=27.0, lo=1, hi=27),
        "travel_minutes_per_desa": Key("float", "extra travel minutes per desa between a KPM's "
                                       "desa and its agent's (catchment rule)", default=12.0,
                                       lo=0, hi=600),
        "travel_patience_factor": Key("float", "a KPM waits up to its patience plus this times "
                                      "its round trip to the agent (the cost of coming back; "
                                      "0 = travel does not matter)", default=1.0, lo=0, hi=10),
        "arrears_tranches": Key("int", "rapel: owed BPNT/PKH tranches (withheld while the KKS "
                                "is not active or the tranche is paused) paid with the next "
                                "tranche, at most this many (0 = withheld tranches are lost)",
                                default=0, lo=0, hi=255),
        "atm_service_minutes": Key("float", "mean minutes of one ATM cash-out (the KPM's "
                                   "service-time draw rescaled)", default=3.0, lo=0.01, hi=1440),
        "bank_cashout_median_days": Key("float", "bank channel: median days from the credit to "
                                        "the cash-out (days geometric; 0 = uniform over "
                                        "redeem_days)", default=0.0, lo=0, hi=28),
    },
    "churn": {
        "sanggah_per_1000_kpm": Key("float", "objections per 1000 KPM per year", lo=0, hi=1000),
        "sanggah_true_share": Key("prob", "share of objections about a truly non-poor KPM"),
        "sanggah_deadline_days": Key("int", "days the kab/kota has to verify an objection",
                                     lo=1, hi=3650),
        "sanggah_verify_days": Key("float", "Dinsos officer-days to verify one objection",
                                   lo=0.001, hi=365),
        "graduation_per_year": Key("prob", "chance per year a household's welfare improves"),
        "graduation_factor": Key("float", "consumption multiplier on graduation", lo=1.0, hi=100),
        "graduation_report_prob": Key("prob", "share of DTKS households whose welfare improved "
                                      "that report it (the rest keep their old score)",
                                      default=1.0),
        "removals_per_year": Key("factors", "annual removal rate per reason, per DTKS household",
                                 lo=0, hi=1),
        "pbi_lapse_per_1000": Key("float", "KIS PBI holders per 1000 per year whose card lapses "
                                  "and later need care", lo=0, hi=1000),
        "pbi_quick_working_days": Key("int", "working days to reactivate a card inactive < window",
                                      lo=0, hi=250),
        "pbi_window_months": Key("int", "months of inactivity allowing quick reactivation",
                                 lo=0, hi=120),
    },
    "status": {
        "checks_per_proposal_month": Key("float", "status checks per open proposal per month "
                                         "(Cek Bansos app, site or village operator)",
                                         lo=0, hi=1000),
        "app_share": Key("prob", "share of checks made in the app or on the site (no staff)"),
        "operator_days": Key("float", "village-operator days per check in SIKS-NG", lo=0, hi=365),
    },
    "programmes": {
        "bpnt_share": Key("prob", "Sembako/BPNT KPM as a share of households"),
        "pkh_share": Key("prob", "PKH KPM as a share of households"),
        "pbi_share": Key("prob", "PBI-JK persons as a share of persons (the quota is counted in "
                         "persons, its source's unit)"),
        "bpnt_amount": Key("int", "BPNT rupiah per KPM per month", lo=0, hi=100_000_000),
        "bpnt_max_desil": Key("int", "highest decile eligible for BPNT", lo=1, hi=10),
        "pkh_max_desil": Key("int", "highest decile eligible for PKH", lo=1, hi=10),
        "pbi_max_desil": Key("int", "highest decile eligible for PBI-JK", lo=1, hi=10),
        "pbi_round_share": Key("prob", "a PBI-JK deactivation round at the next decree, set by an "
                               "event: this share of the PBI-JK persons held loses PBI-JK, the "
                               "richest scores first (0: none)", default=0.0),
        "province_quota": Key("factors", "quota multiplier per province code", default={},
                              lo=0, hi=100),
        "bpnt_paused": Key("bool", "BPNT tranches due are withheld from everybody (paid late; "
                           "owed for disbursement.arrears_tranches)", default=False),
        "pkh_paused": Key("bool", "PKH tranches due are withheld from everybody", default=False),
        "pkh_tahap_months": Key("int", "months per PKH tranche (tahap; 3 = Jan, Apr, Jul, Oct)",
                                default=3, lo=1, hi=12),
        "pkh_pregnant": Key("int", "PKH rupiah per year per pregnancy", default=3_000_000,
                            lo=0, hi=100_000_000),
        "pkh_early_child": Key("int", "PKH rupiah per year per child aged 0-6",
                               default=3_000_000, lo=0, hi=100_000_000),
        "pkh_sd": Key("int", "PKH rupiah per year per primary-school child", default=900_000,
                      lo=0, hi=100_000_000),
        "pkh_smp": Key("int", "PKH rupiah per year per junior-secondary child",
                       default=1_500_000, lo=0, hi=100_000_000),
        "pkh_sma": Key("int", "PKH rupiah per year per senior-secondary child",
                       default=2_000_000, lo=0, hi=100_000_000),
        "pkh_disabled": Key("int", "PKH rupiah per year per severely disabled member",
                            default=2_400_000, lo=0, hi=100_000_000),
        "pkh_elderly": Key("int", "PKH rupiah per year per member aged 70+", default=2_400_000,
                           lo=0, hi=100_000_000),
        "pkh_max_components": Key("int", "PKH components paid per family at most", default=4,
                                  lo=0, hi=20),
        "pkh_max_children": Key("int", "PKH school and early-childhood components at most",
                                default=3, lo=0, hi=20),
        "pkh_max_early_child": Key("int", "PKH early-childhood components at most", default=2,
                                   lo=0, hi=20),
        "pkh_max_disabled_elderly": Key("int", "PKH disabled and elderly components at most",
                                        default=4, lo=0, hi=20),
        "pkh_max_pregnant": Key("int", "PKH pregnancy components at most", default=2, lo=0,
                                hi=20),
        "pbi_premium": Key("int", "PBI-JK premium, rupiah per person per month", default=42_000,
                           lo=0, hi=100_000_000),
        "bpnt_budget_rp": Key("int", "BPNT budget line per fiscal year (Jan-Dec), national "
                              "rupiah; 0 = no ceiling (sim/model/ceiling.py)", default=0,
                              lo=0, hi=10**16),
        "pkh_budget_rp": Key("int", "PKH budget line per fiscal year, national rupiah; 0 = no "
                             "ceiling", default=0, lo=0, hi=10**16),
        "pbi_budget_rp": Key("int", "PBI-JK premium budget line per fiscal year, national "
                             "rupiah; 0 = no ceiling (acts at admission only)", default=0,
                             lo=0, hi=10**16),
        "bpnt_decree_months": Key("ints", "months (1-12) whose decree re-decrees BPNT's "
                                  "recipients; at other decrees its list stands; [] = every "
                                  "decree (sim/model/programme_decrees.py)", default=[], lo=1,
                                  hi=12, max_items=12),
        "pkh_decree_months": Key("ints", "months (1-12) whose decree re-decrees PKH's "
                                 "recipients; [] = every decree", default=[], lo=1, hi=12,
                                 max_items=12),
        "pbi_decree_months": Key("ints", "months (1-12) whose decree re-decrees PBI-JK's "
                                 "members; [] = every decree", default=[], lo=1, hi=12,
                                 max_items=12),
    },
    "fidelity": {
        "kabkota": Key("str", "kab/kota code ('33.71') mirrored at card fidelity by "
                       "`kks sim fidelity` and, when set, by `kks sim run` (every credit and "
                       "redemption through real KKS cards, EDCs and issuer hosts, reconciled to "
                       "the rupiah); empty: none", default=""),
        "months": Key("int", "months mirrored from the scenario's start", default=3, lo=1,
                      hi=24),
    },
    "oneoff": {
        "name": Key("str", "name of the one-off cash programme (BLT / BLTS)", default="BLT"),
        "amount": Key("int", "rupiah paid once per KPM; 0 = no one-off programme (a dated "
                      "event setting it starts a round on its date)", default=0,
                      lo=0, hi=100_000_000),
        "max_desil": Key("int", "highest DTKS decile eligible", default=4, lo=1, hi=10),
        "share": Key("prob", "KPM quota as a share of households, split by kab/kota DTKS size",
                     default=0.0),
        "window_days": Key("int", "days over which banks and PT Pos pay the round", default=60,
                           lo=1, hi=366),
        "collect_prob": Key("prob", "chance a KPM collects within the window (the rest is "
                            "returned to the treasury)", default=1.0),
        "channel": Key("str", "how it is paid", default="pos", choices=("pos", "bank")),
    },
    "register": {
        "ranking": Key("str", "what the deciles rank: 'register' = the households in the "
                       "register (DTKS era), 'population' = every household (DTSEN: the whole "
                       "population is enumerated and ranked; an event switching to it enters "
                       "every household at the next decree; a family removed for any reason "
                       "but death stays ranked, barred from programmes until proposed again)",
                       default="register",
                       choices=("register", "population")),
        "initial_share": Key("prob", "share of households in the register at the start (DTKS "
                             "era; ignored when ranking = 'population')", default=0.40),
        "unranked_share": Key("float", "ranking = 'population': share of households not yet "
                              "ranked (desil 0) at the start, who enter through proposals",
                              default=0.03, lo=0.0, hi=0.1),
        "dtks_noise_sd": Key("float", "sd of the noise on the PMT score that decides who is in "
                             "the starting DTKS (how far DTKS departs from the PMT order)",
                             default=0.5, lo=0, hi=10),
        "stale_score_sd": Key("float", "sd of the drift of the starting register's PMT scores "
                              "from welfare (old data; 0 = scores as fresh as the PMT)",
                              default=0.0, lo=0, hi=5),
        "umr_intercept": Key("float", "logit intercept a of the chance that a household with a "
                             "working-age adult has a member earning at least the regional "
                             "minimum wage, logistic(a + 2 z) (z = welfare draw); such a "
                             "household is not eligible", default=-0.5, lo=-4, hi=2),
        "pbi_other_share": Key("prob", "chance, at the richest end, that a member other than "
                               "the head is covered by another JKN segment (employer, self-paid "
                               "or the region's own PBI), so not PBI-JK when the household "
                               "holds it: share x Phi(z) (z = welfare draw; 0 = every member "
                               "holds it)", default=0.0),
    },
    "targeting": {
        "kemensos_target_share": Key("prob", "target group of the Kemensos error shares: the "
                                     "poorest share of households by true consumption",
                                     default=0.40),
        "alatas_poor_share": Key("prob", "the poor of the Alatas error rates: the poorest share "
                                 "of households by true consumption", default=0.3525),
    },
}

#: ``[regions."PP"]`` / ``[regions."PP.KK"]``: table -> key -> Key a region may set for itself
#: (`sim.model.regional`). Capacity keys have the bounds of ``[capacity]``.
REGION_SCHEMA: dict[str, dict[str, Key]] = {
    "capacity": {k: SCHEMA["capacity"][k] for k in (
        "verval_per_desa", "siks_per_desa", "dinsos_per_kabkota", "burekol_per_branch_day",
        "ewarong_kpm_ratio", "pos_officers_per_kecamatan", "atm_per_kecamatan")},
    "programmes": {"quota_factor": Key("float", "multiplier of the region's programme quotas "
                                       "(on top of programmes.province_quota)", lo=0, hi=100)},
    "issuance": {"bank_shares": Key("shares", "share of the region's new accounts per HIMBARA "
                                    "bank, replacing issuance.bank_shares_by_province and "
                                    "issuance.bank_shares there (a dated event changing the "
                                    "national shares leaves it alone)", lo=0, hi=1)},
}

#: tables a scenario may omit entirely when every key has a default.
TOP_LEVEL = ("extends",)


def is_date(value: object) -> bool:
    """True for a `datetime.date` that is not a datetime."""
    return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)


def markdown_table() -> str:
    """The schema as Markdown tables, one per scenario table (the body of docs/scenarios.md's
    "Scenario reference", between `DOC_BEGIN` and `DOC_END`)."""
    lines = []
    for table, keys in SCHEMA.items():
        lines += [f"### `[{table}]`", "", "| key | expected | meaning |", "| --- | --- | --- |"]
        for name, key in keys.items():
            default = "" if key.default is None else f" (default `{key.default!r}`)"
            lines.append(f"| `{name}` | {key.expected()}{default} | {key.doc} |")
        lines.append("")
    lines += ['### `[regions."PP"]` and `[regions."PP.KK"]`', "",
              "A province (`\"53\"`) or kab/kota (`\"53.71\"`) of the territory with its own "
              "values inside the run (`sim/model/regional.py`); a kab/kota's value wins over "
              "its province's, which wins over the scenario's. Write them as dotted keys, e.g. "
              "`capacity.ewarong_kpm_ratio = 780`, or on the command line as "
              "`--set regions.53.capacity.ewarong_kpm_ratio=780`.", "",
              "| key | expected | meaning |", "| --- | --- | --- |"]
    for table, keys in REGION_SCHEMA.items():
        for name, key in keys.items():
            lines.append(f"| `{table}.{name}` | {key.expected()} | {key.doc} |")
    lines.append("")
    return "\n".join(lines)
