#!/usr/bin/env bash
# tests/atari2600/goldens/make_goldens.sh: regenerates every golden of the atari2600 tests with
# the ALE oracle of the verification kit (../shared/atari beside the repository root, or
# ATARI_SHARED_DIR). The tests never run the oracle; they read these files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
kit="${ATARI_SHARED_DIR:-$repo/../shared/atari}"
oracle="$kit/ale-oracle"
probes="$repo/tests/atari2600/probes"
convert() { python3 "$here/oracle_to_golden.py" "$@"; }

# Tetris: 44,500 random steps (seed 1) with resets on terminal = 20 whole episodes and the
# start of the 21st (21 reset lines). RAM as a hash per step keeps the file under 2 MB.
"$oracle" --rom "$kit/roms/tetris.bin" --random 44500 --seed 1 --reset-on-terminal |
  convert "rom=shared:roms/tetris.bin game=tetris random=44500 seed=1 reset_on_terminal=1" hash \
    > "$here/tetris_random44500_seed1.txt"

# Tetris with sticky actions (ALE's C++ default probability 0.25, seeded): 3,000 random steps
# (seed 3), kept going after the episode ends, where ALE still draws and picks actions.
"$oracle" --rom "$kit/roms/tetris.bin" --random 3000 --seed 3 \
    --set repeat_action_probability=0.25 --set random_seed=5 |
  convert "rom=shared:roms/tetris.bin game=tetris random=3000 seed=3 set=repeat_action_probability=0.25,random_seed=5" hash \
    > "$here/tetris_sticky_random3000_seed3.txt"

# Our own cartridge (envs/atari2600/roms/catch2600.bin), which ALE does not know: run as the raw
# game with seeded random play over all 18 actions, one frame per step. A game lasts about 840
# frames (ten balls of 81 frames after the reset protocol), then the program freezes; seed 2's
# 1,000 steps hold one whole game with RAM in full, seed 1's 3,000 a game and the frozen frames
# after it with RAM hashed.
catch2600="$repo/envs/atari2600/roms/catch2600.bin"
"$oracle" --rom "$catch2600" --game raw --random 1000 --seed 2 |
  convert "rom=repo:envs/atari2600/roms/catch2600.bin game=raw random=1000 seed=2" full \
    > "$here/catch2600_random1000_seed2.txt"
"$oracle" --rom "$catch2600" --game raw --random 3000 --seed 1 |
  convert "rom=repo:envs/atari2600/roms/catch2600.bin game=raw random=3000 seed=1" hash \
    > "$here/catch2600_random3000_seed1.txt"

# Probe ROMs: each run as the raw game with its own action list (see the .asm files).
while read -r golden frames actions extra; do
  [[ -z "$golden" || "$golden" == \#* ]] && continue
  name="${golden%%+*}"  # "paddles+swap": ROM paddles.bin, golden paddles+swap.txt
  sets=()
  run="rom=repo:tests/atari2600/probes/$name.bin game=raw frames=$frames actions=$actions"
  if [[ "$extra" != "-" && -n "$extra" ]]; then  # comma-separated KEY=VALUE settings
    IFS=, read -ra pairs <<<"$extra"
    for pair in "${pairs[@]}"; do sets+=(--set "$pair"); done
    run="$run set=$extra"
  fi
  "$oracle" --rom "$probes/$name.bin" --game raw --frames "$frames" --actions "$actions" "${sets[@]}" |
    convert "$run" full > "$here/$golden.txt"
done < "$here/probes.list"
