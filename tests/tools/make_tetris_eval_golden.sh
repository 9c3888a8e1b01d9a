#!/usr/bin/env bash
# tests/tools/make_tetris_eval_golden.sh: regenerates tetris_random_eval.txt, the ALE oracle's
# figures for 100 Tetris episodes of the uniform random policy, which `dqn eval random` must
# equal exactly (test_cli.cpp). The oracle (../shared/atari, or ATARI_SHARED_DIR) draws its
# actions as dqn's random policy does (std::mt19937(seed), minimal set) and plays the episodes
# back to back (--reset-on-terminal); frame_skip 4 is the atari preset's, and the preset's
# no-op starts and FIRE after reset are switched off on dqn's side (--set noop_max=0
# --set fire_reset=false), since the oracle has neither. The tests never run the oracle.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kit="${ATARI_SHARED_DIR:-$repo/../shared/atari}"
seed=5
episodes=100
"$kit/ale-oracle" --rom "$kit/roms/tetris.bin" --random 80000 --seed "$seed" \
    --set frame_skip=4 --set max_num_frames_per_episode=108000 --reset-on-terminal 2>/dev/null |
  python3 -c '
import json, sys
seed, want = int(sys.argv[1]), int(sys.argv[2])
returns, lengths, ret, length = [], [], 0, 0
for line in sys.stdin:
    j = json.loads(line)
    if j["kind"] != "step":
        continue
    ret += j["reward"]
    length += 1
    if j["terminal"] or j["truncated"]:
        returns.append(ret); lengths.append(length); ret = length = 0
        if len(returns) == want:
            break
assert len(returns) == want, "the oracle run was too short: raise --random"
print("# ale-oracle --rom tetris.bin --random 80000 --seed %d --set frame_skip=4 "
      "--set max_num_frames_per_episode=108000 --reset-on-terminal: first %d episodes" % (seed, want))
print("# made by make_tetris_eval_golden.sh; line: episode return length")
for i, (r, l) in enumerate(zip(returns, lengths)):
    print(i, r, l)
print("seed %d episodes %d return_sum %d length_sum %d" % (seed, want, sum(returns), sum(lengths)))
' "$seed" "$episodes" > "$here/tetris_random_eval.txt"
