#!/usr/bin/env bash
# Create the virtual environment the peer benchmarks run in, apart from the
# project's own: this checkout of maggot, Sacred and MLflow installed into it,
# and maggot 0.2 from the package index into a folder of its own (both are
# the package "maggot", so 0.2 is put first on PYTHONPATH only when timed).
#
#   bash tests/perf/peers/setup.sh [VENV]     (default: tests/perf/peers/.venv)
#
# Nothing here becomes a dependency of maggot: the environment is disposable.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${1:-$here/.venv}"
python="${PYTHON:-$(command -v python3 || command -v python)}"

"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" "$root" sacred mlflow
# maggot 0.2 pins numpy 1.19, pandas 1.1 and "pkg-resources==0.0.0", none of
# which installs on a current Python; its Experiment needs none of them, and
# its summarize needs pandas, which MLflow brings.
"${pip[@]}" --no-deps --target "$venv/maggot-0.2" "maggot==0.2"
"$venv/bin/python" - <<'PY'
import importlib.metadata as metadata

for name in ("maggot", "sacred", "mlflow", "pandas"):
    print(f"{name} {metadata.version(name)}")
PY
echo "maggot 0.2 in $venv/maggot-0.2"
echo "ready: $venv/bin/python tests/perf/peers/bench_peers.py"
