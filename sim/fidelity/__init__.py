"""The bridge to the card world: one kab/kota of the fast engine mirrored through real KKS cards,
issuer hosts and EDC terminals, reconciled to the rupiah (docs/monthly.md §8)."""

from sim.fidelity.mirror import FidelityReport, run_card_fidelity

__all__ = ["FidelityReport", "run_card_fidelity"]
