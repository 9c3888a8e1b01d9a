#!/usr/bin/env bash
# bench/cartpole_seeds.sh: trains the cartpole preset on seeds 1..N (default 10), one at a time
# on one thread, and prints the README's table: for each seed the returned policy's mean return
# over 100 unseen evaluation episodes, the step of its best periodic evaluation, and wall time.
#   bench/cartpole_seeds.sh [N] [extra dqn train flags...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds="${1:-10}"
shift || true
./tools/dqn build
out_root="build/cartpole_seeds"
rm -rf "$out_root"
echo "| seed | mean return, 100 unseen episodes | best evaluation at step | wall time |"
echo "|---|---|---|---|"
solved=0
for seed in $(seq 1 "$seeds"); do
  dir="$out_root/seed$seed"
  start=$(date +%s.%N)
  ./build/release/tools/dqn train --seed "$seed" --threads 1 --out "$dir" "$@" >/dev/null
  end=$(date +%s.%N)
  summary=$(grep '"type":"summary"' "$dir/metrics.jsonl")
  mean=$(sed -E 's/.*"final_eval_mean":([^,]*).*/\1/' <<<"$summary")
  best_step=$(sed -E 's/.*"best_eval_step":([^,]*).*/\1/' <<<"$summary")
  printf '| %d | %.1f | %d | %.1f s |\n' "$seed" "$mean" "$best_step" "$(awk "BEGIN{print $end - $start}")"
  if awk "BEGIN{exit !($mean >= 475)}"; then solved=$((solved + 1)); fi
done
echo
echo "solved (>= 475): $solved of $seeds"
