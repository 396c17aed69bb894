"""The client's on-disk input log and specs of a partition (`sim.model.inputlog`): read back
entry for entry, in order, as often as a replay needs."""

from __future__ import annotations

import numpy as np

from sim.model.inputlog import Spooled


def test_entries_come_back_in_order_every_time_and_appends_continue() -> None:
    log = Spooled()
    entries = [({"rows": np.arange(k, dtype=np.int64)}, float(k), None, bytes([k]))
               for k in range(5)]
    for e in entries[:3]:
        log.append(e)
    for _ in range(2):  # a replay reads from the start, then the run goes on appending
        got = list(log)
        assert len(got) == 3 == len(log)
        for (a, t, d, h), (b, u, f, g) in zip(got, entries[:3], strict=True):
            assert np.array_equal(a["rows"], b["rows"]) and (t, d, h) == (u, f, g)
    for e in entries[3:]:
        log.append(e)
    assert [t for _, t, _, _ in log] == [0.0, 1.0, 2.0, 3.0, 4.0]
    log.close()
