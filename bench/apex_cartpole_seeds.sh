#!/usr/bin/env bash
# bench/apex_cartpole_seeds.sh [SEEDS]: CartPole-v1 over seeds 1..SEEDS (default 10) with the
# cartpole preset, three ways side by side: the one-process trainer, and one learner with two
# actors under mpirun, lockstep (deterministic) and asynchronous. Per run: the final evaluation
# (100 unseen episodes), the first env step whose periodic evaluation reached 475, the wall
# time and the updates. The MPI build: ./tools/dqn build --mpi.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds="${1:-10}"
dqn=build/release/tools/dqn
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
report() {  # report DIR MODE SEED
  python3 - "$@" <<'PY'
import json, sys
d, mode, seed = sys.argv[1:]
first, summary = None, None
for line in open(d + "/metrics.jsonl"):
    j = json.loads(line)
    if j.get("type") == "eval" and first is None and j["mean"] >= 475: first = j["step"]
    if j.get("type") == "summary": summary = j
wall = summary.get("wall")
if wall is None:
    wall = [json.loads(l) for l in open(d + "/timing.jsonl") if '"summary"' in l][-1]["wall"]
print(f"{mode:8} {seed:>4} {summary['final_eval_mean']:8.1f} {str(first):>10} {wall:6.2f} "
      f"{summary['updates']:8}")
PY
}
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
printf '%-8s %4s %8s %10s %6s %8s\n' mode seed final "first>=475" wall updates
for seed in $(seq "$seeds"); do
  "$dqn" train --seed "$seed" --out "$work/single" >/dev/null
  report "$work/single" single "$seed"
  "${mpi[@]}" -np 3 "$dqn" train --distributed --set lockstep=true --seed "$seed" \
    --out "$work/lockstep" >/dev/null
  report "$work/lockstep" lockstep "$seed"
  "${mpi[@]}" -np 3 "$dqn" train --distributed --seed "$seed" --out "$work/async" >/dev/null
  report "$work/async" async "$seed"
  rm -rf "$work"/*
done
