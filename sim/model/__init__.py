"""The national flow model: SimPy processes and resources around the vectorized monthly engine.

One stage family per module:

* `registration`: proposals from RT/RW, Cek Bansos self-registration, shocks, PMKS sponsors;
* `verification`: musdes, verval, SIKS-NG, Dinas Sosial, Bupati sign-off, Kemensos;
* `penetapan`: the decree (monthly or quarterly) and the credit day, through `engine`, the thin
  adapter to `sim.hotpath.monthly` / `sim.hotpath.disburse`;
* `issuance`: HIMBARA account opening, KKS printing batches with outages, post, activation;
* `redemption`: e-warong agents (stock, opening hours), PT Pos pay points, ATM cash-out;
* `churn`: sanggah with its deadline, removals per reason, graduation, KIS PBI reactivation;
* `status`: status checks by NIK or name (app, site, village operator).

`context` holds the shared run state (`Context`, scaled `Stage` pools, the proposal table),
`frame` the territory and sampling, `run` builds and runs a scenario, `replicate` runs
replications on a process pool or a Dask cluster.

A run is regions coupled to national stages (docs/distributed.md): `region` is one (virtual)
kab/kota with its own SimPy environment and streams, `national` the Kemensos pool, printer,
decree and credit day, `windows` the conservative windows between them, `partition` the regions
one worker holds, `distributed` the partitions as Dask actors, `merge` the run's `Context` from
its regions; `rowdraws` hashes per-household draws on demand. With ``territory.context =
"national"`` (`nation`) the whole country is simulated at two fractions and `view` is the
territory's part of the run that the results folder reports. Entry point:
`sim.model.run.run(scenario)`; results are written by `sim.outputs.write`.
"""
