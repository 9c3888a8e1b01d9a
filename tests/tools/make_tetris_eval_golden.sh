#!/usr/bin/env bash
# tests/tools/make_tetris_eval_golden.sh: regenerates the ALE oracle's figures for Tetris episodes
# of the uniform random policy, which `dqn eval random` must equal exactly (test_cli.cpp):
#   tetris_random_eval.txt     100 episodes, the atari preset's frame skip 4, with its no-op
#                              starts and FIRE after reset switched off on dqn's side (--set
#                              noop_max=0 --set fire_reset=false): the oracle has neither;
#   tetris_random_eval_v5.txt  20 episodes under the atari-v5 preset as it is (sticky actions
#                              p = 0.25 decided per frame, ALE's random_seed = dqn's seed).
# The oracle (../shared/atari, or ATARI_SHARED_DIR) draws its actions as dqn's random policy does
# (std::mt19937(seed), minimal set) and plays the episodes back to back (--reset-on-terminal).
# The tests never run the oracle.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kit="${ATARI_SHARED_DIR:-$repo/../shared/atari}"
seed=5

# golden EPISODES FILE [oracle --set KEY=VALUE ...]
golden() {
  local episodes="$1" file="$2"
  shift 2
  local sets=(--set frame_skip=4 --set max_num_frames_per_episode=108000 "$@")
  "$kit/ale-oracle" --rom "$kit/roms/tetris.bin" --random 80000 --seed "$seed" "${sets[@]}" \
      --reset-on-terminal |
    python3 -c '
import json, sys
seed, want, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
returns, lengths, ret, length = [], [], 0, 0
for line in sys.stdin:
    j = json.loads(line)
    if j["kind"] != "step":
        continue
    ret += j["reward"]
    length += 1
    if j["terminal"] or j["truncated"]:
        returns.append(ret); lengths.append(length); ret = length = 0
# Read to the end (stopping early would kill the oracle with SIGPIPE, failing the pipeline).
assert len(returns) >= want, "the oracle run was too short: raise --random"
returns, lengths = returns[:want], lengths[:want]
print("# ale-oracle --rom tetris.bin --random 80000 --seed %d %s --reset-on-terminal: "
      "first %d episodes" % (seed, command, want))
print("# made by make_tetris_eval_golden.sh; line: episode return length")
for i, (r, l) in enumerate(zip(returns, lengths)):
    print(i, r, l)
print("seed %d episodes %d return_sum %d length_sum %d" % (seed, want, sum(returns), sum(lengths)))
' "$seed" "$episodes" "${sets[*]}" > "$here/$file"
}

golden 100 tetris_random_eval.txt
golden 20 tetris_random_eval_v5.txt --set repeat_action_probability=0.25 --set random_seed="$seed"
