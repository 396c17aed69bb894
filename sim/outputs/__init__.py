"""The outputs layer: KPIs, tables, plots and the report of a finished run.

* `results`: KPIs, the results folder (manifest, summary, kpi.csv, Parquet tables), `write`;
* `report`: plots and report.html.

`write`, `kpis` and `manifest` are re-exported here.
"""

from sim.outputs.results import kpis, manifest, write

__all__ = ["kpis", "manifest", "write"]
