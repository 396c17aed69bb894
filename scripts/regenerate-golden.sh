#!/usr/bin/env bash
# Regenerate the S-BACKTEST golden results (tests/sim/model/golden/baseline_kota_magelang/) from a
# fresh run of the golden config in tests/sim/model/test_backtest.py. Deliberate use only.
set -euo pipefail
usage() {
  cat >&2 <<'USAGE'
usage: scripts/regenerate-golden.sh "<reason>"

Rewrites tests/sim/model/golden/baseline_kota_magelang/{kpi.csv,summary.json,meta.json} from a
fresh run (baseline.toml on Kota Magelang 33.71, fraction 1, 12 months, baseline seed).

Only for an INTENDED change of model behaviour or of a pinned dependency (numpy, simpy in
constraints.txt), never to make an unexplained test_backtest failure go away: find the cause
first. The reason is stored in meta.json, and the commit message MUST name it, e.g.

  git add tests/sim/model/golden/baseline_kota_magelang
  git commit -m "Golden: regenerate after <reason>" -- tests/sim/model/golden/baseline_kota_magelang
USAGE
  exit 2
}
[ "$#" -eq 1 ] && [ -n "${1// /}" ] || usage
case "$1" in -h|--help) usage ;; esac
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
"$PY" -m tests.sim.model.test_backtest --regenerate "$1"
git --no-pager diff --stat -- tests/sim/model/golden || true
echo "Review the diff above, then commit with a message naming the reason: $1"
