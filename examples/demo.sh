#!/usr/bin/env bash
# A tour of maggot in a throwaway git repository: record runs on a dirty
# working tree, compare them, then reproduce one in a separate worktree.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/maggot-demo.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
python="${PYTHON:-$(command -v python || command -v python3)}"
maggot() { "$python" -m maggot "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd "$workdir"
git init -q -b main .
git config user.name "maggot demo"
git config user.email "demo@example.com"
cp "$here/train.py" .
printf 'experiments/\n' > .gitignore
git add . && git commit -q -m "logistic regression"

# record runs from a working tree with an uncommitted change: the snapshot keeps it
sed -i.bak 's/size: int = 400/size: int = 600/' train.py && rm train.py.bak
step python train.py --lr 0.05 --epochs 10
"$python" train.py --lr 0.05 --epochs 10
step python train.py --lr 0.5 --epochs 10
"$python" train.py --lr 0.5 --epochs 10
step python train.py --lr 0.5 --epochs 30 --l2 0.001
"$python" train.py --lr 0.5 --epochs 30 --l2 0.001

step maggot summarize experiments --sort accuracy --params
maggot summarize experiments --sort accuracy --params

step maggot config-diff experiments/0.0-0.05-10 experiments/0.001-0.5-30
maggot config-diff experiments/0.0-0.05-10 experiments/0.001-0.5-30

# every run as one offline page (inside the ignored experiments/, so no snapshot copies it)
step maggot report experiments -o experiments/report.html
maggot report experiments -o experiments/report.html

# the checkout moves on; reproduce still rebuilds the recorded state
git commit -q -am "bigger data set"
sed -i.bak 's/size: int = 600/size: int = 800/' train.py && rm train.py.bak
step maggot reproduce experiments/0.0-0.05-10 --yes
maggot reproduce experiments/0.0-0.05-10 --yes

step git status --short   "# the checkout is as it was"
git status --short

# a new run on the changed code: diff shows config, code and results side by side
"$python" train.py --lr 0.05 --epochs 10 > /dev/null 2>&1
step maggot diff experiments/0.0-0.05-10 experiments/0.0-0.05-10_1
maggot diff experiments/0.0-0.05-10 experiments/0.0-0.05-10_1
