#!/usr/bin/env bash
# The dashboard's speed, measured by its own browser tests on a release build: page loads of
# the seed at step 1 (rollouts, rollout, routes, applications), and with 100 rollouts the list
# load, a redraw, the filter and a change reaching the page. Needs what scripts/test.sh
# installs (Debian's chromium, `npm ci` in tests/dashboard). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare chromium:chromium
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
cargo test --release -q -p serin --test dashboard -- --test-threads 1 chromium hundred >/dev/null
exec python3 - <<'PYTHON'
import json
import os
figures_dir = "target/tmp/dashboard-figures"
seed = json.load(open(os.path.join(figures_dir, "seed.json")))
hundred = json.load(open(os.path.join(figures_dir, "hundred.json")))
print(f"{'page (seed at step 1)':28}{'load median ms':>16}{'min':>7}{'max':>7}")
for page in ["rollouts", "rollout", "routes", "applications"]:
    n = seed["loadMs"][page]["navigation"]
    print(f"{page:28}{n['median']:>16}{n['min']:>7}{n['max']:>7}")
print(f"promote -> weight 30 shown: {seed['promoteToWeight30Ms']} ms; abort -> Degraded shown: {seed['abortToDegradedMs']} ms")
n = hundred["rolloutsPageLoadMs"]["navigation"]
print(f"100 rollouts: list load median {n['median']} ms (min {n['min']}, max {n['max']}); redraw median {hundred['redrawMs']['median']} ms; "
      f"filter {hundred['filterMs']} ms; a change on the page after {hundred['liveUpdateMs']} ms")
PYTHON
