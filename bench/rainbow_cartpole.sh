#!/usr/bin/env bash
# bench/rainbow_cartpole.sh: Rainbow's parts on CartPole-v1, each on its own and together
# (Hessel et al. 2018 ran the same ablation on Atari), 10 seeds per configuration, one thread.
# Prints the README's table: per configuration the seeds whose returned policy averages >= 475
# over 100 unseen episodes, the seeds that reached 475 in some periodic evaluation (every 2,500
# env steps, 10 episodes), and the median env step of that first 475 evaluation (seeds that
# never reach it count as infinitely late, so the median is ">50000" when half of them fail).
#   bench/rainbow_cartpole.sh [SEEDS] [extra dqn train flags applied to every configuration...]
# Every configuration starts from the cartpole preset (MLP 64x64, 50,000 env steps, Adam
# 2.3e-3, batch 64, 128 updates every 256 steps); only the named switches change. Two values
# are CartPole's, not Atari's: C51's support is [0, 100] (discounted returns reach
# 1 / (1 - 0.99) = 100; the default [-10, 10] clips them), and noisy nets start at sigma0 0.1
# (the data-efficient Rainbow's value) rather than 0.5: on this 4-input MLP, sigma0 / sqrt(4)
# = 0.25 of noise on every input weight swamped the policy at 0.5 (the last row shows it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds="${1:-10}"
shift || true
./tools/dqn build >/dev/null
dqn=./build/release/tools/dqn
out_root="build/rainbow_cartpole"
rm -rf "$out_root"

# name | --set flags (on top of the cartpole preset)
configs=(
  "DQN|double_dqn=false"
  "+Double|double_dqn=true"
  "+PER|double_dqn=false prioritized_replay=true"
  "+n-step (3)|double_dqn=false n_step=3"
  "+C51|double_dqn=false distributional=true v_min=0 v_max=100"
  "+noisy|double_dqn=false noisy_nets=true noisy_sigma0=0.1"
  "+dueling|double_dqn=false dueling=true"
  "Rainbow|double_dqn=true prioritized_replay=true n_step=3 distributional=true v_min=0 v_max=100 noisy_nets=true noisy_sigma0=0.1 dueling=true"
  "Rainbow, n-step 2|double_dqn=true prioritized_replay=true n_step=2 distributional=true v_min=0 v_max=100 noisy_nets=true noisy_sigma0=0.1 dueling=true"
  "Rainbow, n-step 1|double_dqn=true prioritized_replay=true n_step=1 distributional=true v_min=0 v_max=100 noisy_nets=true noisy_sigma0=0.1 dueling=true"
  "Rainbow, epsilon-greedy|double_dqn=true prioritized_replay=true n_step=3 distributional=true v_min=0 v_max=100 dueling=true"
  "Rainbow, sigma0 0.5|double_dqn=true prioritized_replay=true n_step=3 distributional=true v_min=0 v_max=100 noisy_nets=true dueling=true"
)

echo "| configuration | returned policy >= 475 (100 episodes) | reached 475 in an evaluation | median env steps to 475 | mean final return | wall time per seed |"
echo "|---|---|---|---|---|---|"
for entry in "${configs[@]}"; do
  name="${entry%%|*}"
  flags=()
  for kv in ${entry#*|}; do flags+=(--set "$kv"); done
  solved=0 reached=0 total_final=0 total_time=0
  firsts=()
  for seed in $(seq 1 "$seeds"); do
    dir="$out_root/$(tr -c 'A-Za-z0-9\n' '_' <<<"$name")/seed$seed"
    start=$(date +%s.%N)
    "$dqn" train --seed "$seed" --threads 1 --out "$dir" "${flags[@]}" "$@" >/dev/null
    end=$(date +%s.%N)
    total_time=$(awk "BEGIN{print $total_time + $end - $start}")
    final=$(sed -nE 's/.*"type":"summary".*"final_eval_mean":([^,]*).*/\1/p' "$dir/metrics.jsonl")
    total_final=$(awk "BEGIN{print $total_final + $final}")
    if awk "BEGIN{exit !($final >= 475)}"; then solved=$((solved + 1)); fi
    first=$(awk -F'[:,]' '/"type":"eval"/ { for (i = 1; i < NF; ++i) { if ($i == "\"step\"") s = $(i + 1); if ($i == "\"mean\"") m = $(i + 1) } if (m >= 475) { print s; exit } }' "$dir/metrics.jsonl")
    if [[ -n "$first" ]]; then
      reached=$((reached + 1))
      firsts+=("$first")
    else
      firsts+=(999999999)
    fi
  done
  median=$(printf '%s\n' "${firsts[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; if (m >= 999999999) print "never"; else if (m > 50000) print ">50000"; else printf "%d", m }')
  printf '| %s | %d of %d | %d of %d | %s | %.1f | %.1f s |\n' "$name" "$solved" "$seeds" "$reached" "$seeds" \
    "$median" "$(awk "BEGIN{print $total_final / $seeds}")" "$(awk "BEGIN{print $total_time / $seeds}")"
done
