"""The registry layer: the administrative frame, NIKs, the synthetic population, the columnar
household table and the pseudonyms used when anything leaves it.

* `regions`: the frame (province, kab/kota, kecamatan, desa) as arrays;
* `nik`: the NIK / No. KK codec and validator;
* `population`: the seeded, vectorized synthetic registry generator;
* `table`: `Registry`, one numpy column per attribute (`SCHEMA`), and its on-disk form;
* `privacy`: keyed pseudonyms for every export.

The names of `table` are re-exported here, so `sim.registry.Registry` is the household table.
"""

from sim.registry.table import (
    PROG_BPNT,
    PROG_PBI,
    PROG_PKH,
    SCHEMA,
    SCHEMA_VERSION,
    STATUS_BARRED,
    STATUS_DIED,
    STATUS_IN_DTKS,
    STATUS_NOT_IN_DTKS,
    STATUS_REMOVED,
    Registry,
    load,
    save,
)

__all__ = [
    "PROG_BPNT", "PROG_PBI", "PROG_PKH", "SCHEMA", "SCHEMA_VERSION", "STATUS_BARRED",
    "STATUS_DIED", "STATUS_IN_DTKS", "STATUS_NOT_IN_DTKS", "STATUS_REMOVED", "Registry", "load",
    "save",
]
