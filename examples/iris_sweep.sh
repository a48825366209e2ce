#!/usr/bin/env bash
# Sweep the iris example over C and gamma, one recorded run per pair, then list
# the runs best first. Run it from the folder the runs should go to (they land
# in ./experiments); configs that already have a run are skipped. Write values
# as Python prints floats (1.0, not 1), as the run names do.
#
#   bash examples/iris_sweep.sh
#   CS="1.0 10.0" GAMMAS="0.01" bash examples/iris_sweep.sh     # a smaller grid
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"

for C in ${CS:-0.1 1.0 10.0}; do
    for gamma in ${GAMMAS:-0.01 0.1 1.0}; do
        # the name maggot gives this config: n_folds-C-gamma, values as Python prints them
        name="5-$C-$gamma"
        if [ -d "experiments/$name" ]; then
            echo "experiments/$name: already recorded, skipped"
            continue
        fi
        "$python" "$here/iris_sklearn.py" --C "$C" --gamma "$gamma" --if-exists exit
    done
done

"$python" -m maggot summarize experiments --sort accuracy
