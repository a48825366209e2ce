#!/usr/bin/env bash
# A tour of maggot in a throwaway git repository: record runs on a dirty
# working tree, compare them, then reproduce one in a separate worktree.
#
#   bash examples/demo.sh            # the repository is removed at the end
#   bash examples/demo.sh --keep     # keep it, and print where it is
#
# Steps are printed in bold on a terminal; piped to a file, or with NO_COLOR
# set, the output is plain text.
set -euo pipefail

keep=0
for argument in "$@"; do
    case "$argument" in
        --keep) keep=1 ;;
        -h | --help)
            sed -n '2,9s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "demo.sh: unknown argument $argument (try --help)" >&2
            exit 2
            ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/maggot-demo.XXXXXX")"
if [ "$keep" = 1 ]; then
    trap 'printf "\nThe demo repository is kept in %s\n" "$workdir"' EXIT
else
    trap 'rm -rf "$workdir"' EXIT
fi
python="${PYTHON:-$(command -v python || command -v python3)}"
maggot() { "$python" -m maggot "$@"; }
if [ -t 1 ] && [ -z "${NO_COLOR+set}" ]; then
    bold=$'\033[1m' plain=$'\033[0m' git_color=auto
else
    bold='' plain='' git_color=never
fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }

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

# the checkout moves on; reproduce still rebuilds the recorded state
git commit -q -am "bigger data set"
sed -i.bak 's/size: int = 600/size: int = 800/' train.py && rm train.py.bak
step maggot reproduce experiments/0.0-0.05-10 --yes
maggot reproduce experiments/0.0-0.05-10 --yes

step git status --short   "# the checkout is as it was"
git -c color.ui="$git_color" status --short

# a new run on the changed code: diff shows config, code and results side by side
"$python" train.py --lr 0.05 --epochs 10 > /dev/null 2>&1
step maggot diff experiments/0.0-0.05-10 experiments/0.0-0.05-10_1
maggot diff experiments/0.0-0.05-10 experiments/0.0-0.05-10_1

if [ "$keep" = 0 ]; then
    printf '\nThe demo repository is removed now; run with --keep to look around in it.\n'
fi
