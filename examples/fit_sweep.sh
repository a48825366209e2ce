#!/usr/bin/env bash
# maggot run and maggot sweep on fit_curve.py, a script that does not import
# maggot: one recorded run, then a sweep over the polynomial degree and the
# ridge penalty, then the sweep's runs listed best first (lowest test error).
#
#   bash examples/fit_sweep.sh                       # local, two jobs at a time
#   bash examples/fit_sweep.sh --launcher slurm      # the same sweep as a Slurm job array
#
# Run it from inside the git repository holding fit_curve.py (a clone of
# maggot, or your own repository with the script committed): runs land in
# ./experiments, and the sweep runs from a frozen copy of the code.
set -euo pipefail

launcher=local
while [ $# -gt 0 ]; do
    case "$1" in
        --launcher)
            launcher="${2:?--launcher needs local or slurm}"
            shift 2
            ;;
        -h | --help)
            sed -n '2,11s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "fit_sweep.sh: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"
maggot() { "$python" -m maggot "$@"; }
# the script's path relative to here: a sweep runs it from its frozen copy of the
# code, from the same relative directory, so an absolute path would miss the copy
script="$("$python" -c 'import os, sys; print(os.path.relpath(sys.argv[1]))' "$here/fit_curve.py")"
# results are picked out of the output lines "train_rmse=0.2021", "test_rmse=0.2440"
pattern='(?P<name>\w+_rmse)=(?P<value>[0-9.]+)'

echo "\$ maggot run --if-exists increment --metric-pattern '$pattern' -- python $script --degree 3 --alpha 0.01"
maggot run --if-exists increment --metric-pattern "$pattern" \
    -- "$python" "$script" --degree 3 --alpha 0.01

launcher_options=(-j 2)
if [ "$launcher" = slurm ]; then
    # four array tasks at once, one CPU and a minute each at most (`maggot sweep launch --help`)
    launcher_options=(--slurm-parallelism 4 --time 1 --cpus 1)
fi
echo "\$ maggot sweep --launcher $launcher ${launcher_options[*]} -p degree=1,3,5,9 -p alpha=0.0,0.01" \
    "--metric-pattern '$pattern' -- python $script --degree {degree} --alpha {alpha}"
maggot sweep --launcher "$launcher" "${launcher_options[@]}" \
    -p degree=1,3,5,9 -p alpha=0.0,0.01 --metric-pattern "$pattern" \
    -- "$python" "$script" --degree '{degree}' --alpha '{alpha}'

# the newest sweep is the one just launched (ids start with the UTC time)
sweep_id="$(maggot sweep status --all --format json | "$python" -c \
    'import json, sys; print(max(sweep["id"] for sweep in json.load(sys.stdin)))')"
echo "\$ maggot summarize experiments --sweep $sweep_id --sort test_rmse --ascending --params"
maggot summarize experiments --sweep "$sweep_id" --sort test_rmse --ascending --params
