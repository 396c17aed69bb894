"""Named random streams for common random numbers (CRN).

Every source of randomness in the model has a name with a fixed spawn key below. A stream is
``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(key, *sub))))``: it depends only on
the run seed, its own key and an optional sub-key (the proposal source, the month, ...), never on
how many draws other streams made. So a scenario that changes one parameter (say the verval
capacity) leaves the draws of every unrelated stream (arrivals, printing outages, e-warong
service times) bitwise identical, and per-entity draws stay synchronised between scenarios.

The keys are part of the model's reproducibility contract (STRESS-DES item 5.2): never renumber
an existing entry; append new names with new keys.
"""

from __future__ import annotations

import numpy as np

#: stream name -> spawn key. Append only.
STREAM_KEYS: dict[str, int] = {
    "territory": 1,          # which desa are simulated
    "population": 2,         # the synthetic registry (passed to sim.registry.population)
    "arrivals.rtrw": 10,     # proposals from RT/RW
    "arrivals.self": 11,     # Cek Bansos self-registration
    "arrivals.shock": 12,    # households whose situation worsens
    "arrivals.pmks": 13,     # PMKS sponsored by an LKS (online route)
    "musdes": 20,            # village deliberation (prelist awal -> akhir)
    "verval": 21,            # field verification by village officers
    "siks": 22,              # SIKS-NG data entry
    "dinsos": 23,            # Dinas Sosial checks, Dukcapil corrections
    "kemensos": 24,          # Kemensos processing
    "penetapan": 25,         # rng handed to the monthly engine on decree days
    "burekol": 30,           # collective account opening at HIMBARA branches
    "printing": 31,          # KKS printing batches
    "post": 32,              # delivery by PT Pos
    "activation": 33,        # distribution and in-person activation with PIN
    "redeem.arrival": 40,    # KPM travel and arrival after a credit
    "redeem.service": 41,    # service time at the e-warong / post / ATM
    "redeem.stock": 42,      # e-warong restocking
    "redeem.patience": 43,   # KPM patience in agent queues, and the times of repeat visits
    "sanggah": 50,           # objections (usul/sanggah)
    "churn": 51,             # removals per reason
    "graduation": 52,        # welfare improves
    "pbi": 53,               # KIS PBI reactivation
    "ewarong.validation": 60,  # M/M/c validity runs (tests, benchmarks)
    "status": 61,            # status checks by NIK / name (Cek Bansos, village operator)
    "oneoff": 70,            # one-off programme rounds: payment day and collection per KPM
    "appeal": 71,            # appeals after a verval rejection: who appeals
    "rerank": 72,            # DTSEN re-ranking: fresh data collected per DTKS household
    "graduation.report": 73,  # whether a household whose welfare improved reports it
    "register.age": 3,       # drift of the starting register's old PMT scores (frame.age_scores)
    "register.enumerate": 4,  # fresh scores of a DTKS -> DTSEN population enumeration
}

#: sub-keys for the four proposal sources, so each source has its own per-entity draws.
SOURCE_KEYS: dict[str, int] = {"rtrw": 0, "self": 1, "shock": 2, "pmks": 3, "pbi": 4,
                               "appeal": 5}


class Streams:
    """Factory of the named generators of one run (seeded by *seed*)."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)

    def get(self, name: str, *sub: int) -> np.random.Generator:
        """A fresh generator for stream *name* and optional integer sub-keys *sub*.

        Calling it twice with the same arguments gives two generators with identical draws, which
        is what per-entity CRN needs; keep the generator if you want a continuing stream.
        """
        try:
            key = STREAM_KEYS[name]
        except KeyError:
            raise ValueError(f"unknown random stream {name!r}") from None
        ss = np.random.SeedSequence(self.seed, spawn_key=(key, *(int(s) for s in sub)))
        return np.random.Generator(np.random.PCG64(ss))

    def entropy_map(self) -> dict[str, list[int]]:
        """The name -> spawn-key map written to the manifest (STRESS 5.2)."""
        return {name: [key] for name, key in sorted(STREAM_KEYS.items(), key=lambda kv: kv[1])}
