"""The monthly hot path: penetapan and disbursement over the whole registry, vectorized.

* `changes`: the month's columnar change batch (additions, updates, removals);
* `keyindex`: the sorted-key index used to find NIK / No. KK collisions;
* `monthly`: the decree (validate, deduplicate, remove, rank, select) in numpy;
* `disburse`: exactly-once credits, redemptions, unspent months and returns;
* `reference`: the same semantics one record at a time in plain Python (the twin the property
  tests hold the fast path equal to).

docs/monthly.md is the specification of all of them.
"""
