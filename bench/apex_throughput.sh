#!/usr/bin/env bash
# bench/apex_throughput.sh [SECONDS] [free]: Ape-X's throughput against the one-process trainer, in one
# run on this machine (the MPI build: ./tools/dqn build --mpi). For CartPole and built-in
# Breakout, the one-process trainer, then one learner with 1, 2 and 3 actors, each for SECONDS
# (default 60) of training: env steps per second (summed over the actors) and learner updates
# per second, from each run's own logs. Every job runs alone (nothing else should run).
#
# With `free`, the distributed jobs run with hold_replay_ratio=false (Ape-X as published: each
# side as fast as it goes); without it they keep the one-process replay ratio.
#
# Breakout starts learning after 1,000 steps (not the atari preset's 80,000) so that the
# measured window is all training; the replay ratio is the preset's (1 update per 4 steps).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
free=()
[[ "${2:-}" == free ]] && free=(--set hold_replay_ratio=false)
dqn=build/release/tools/dqn
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
minutes="$(python3 -c "print($seconds / 60)")"
common=(--steps 1000000000 --set "max_minutes=$minutes" --set eval_interval=0
        --set final_eval_episodes=0)
rates() {  # rates DIR: env steps/s and updates/s of a finished run
  python3 - "$1" <<'PY'
import json, sys, os
d = sys.argv[1]
summary = [json.loads(l) for l in open(d + "/metrics.jsonl") if '"summary"' in l][-1]
wall = summary.get("wall")
if wall is None:  # the one-process trainer keeps wall time in timing.jsonl
    wall = [json.loads(l) for l in open(d + "/timing.jsonl") if '"summary"' in l][-1]["wall"]
print(f"{summary['env_steps'] / wall:10.0f} {summary['updates'] / wall:10.1f}")
PY
}
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $seconds s each${free:+; distributed: hold_replay_ratio=false}"
printf '%-14s %-22s %10s %10s\n' env run "steps/s" "updates/s"
for env in cartpole mini:breakout; do
  extra=()
  [[ "$env" == mini:breakout ]] && extra=(--set learning_starts=1000 --set buffer_size=100000)
  "$dqn" train --env "$env" "${common[@]}" "${extra[@]}" --out "$work/single" >/dev/null
  printf '%-14s %-22s %s\n' "$env" "one process" "$(rates "$work/single")"
  rm -rf "$work/single"
  for actors in 1 2 3; do
    "${mpi[@]}" -np $((actors + 1)) "$dqn" train --distributed --env "$env" "${common[@]}" \
      "${extra[@]}" "${free[@]}" --out "$work/apex" >/dev/null
    printf '%-14s %-22s %s\n' "$env" "learner + $actors actor(s)" "$(rates "$work/apex")"
    rm -rf "$work/apex"
  done
done
