"""The outputs layer: KPIs, tables, plots and the report of a finished run.

* `results`: KPIs, the results folder (manifest, summary, kpi.csv, tables), `write`;
* `tables`: the data tables, their data dictionary (docs/outputs.md), Parquet and CSV;
* `service`: payout completion, give-ups and resource counts per stage and province;
* `effects`: what each override changed in the built model;
* `report`: plots and report.html.

`write`, `kpis` and `manifest` are re-exported here.
"""

from sim.outputs.results import kpis, manifest, write

__all__ = ["kpis", "manifest", "write"]
