#!/usr/bin/env bash
# tests/atari2600/goldens/make_game_goldens.sh: regenerates games_on_tetris.txt with the ALE
# oracle of the verification kit (../shared/atari, or ATARI_SHARED_DIR). The only ROM here is
# Tetris, but the oracle runs any game's logic on it (--game ID: ALE's wrapper for that game, on
# Tetris's RAM; the console properties follow the ROM's MD5, so Tetris's). That checks, per game,
# the reset protocol (mode loop with its SELECT presses, soft resets, starting actions: the frame
# counters), the reward/terminal/lives formulas on RAM that really moves, and the minimal action
# set (random actions are drawn from it). Three games are left out because ALE's mode loop never
# ends on Tetris's RAM: battle_zone ($A1), demon_attack ($EA), ms_pacman ($99/$A1). A fourth,
# up_n_down, cannot be asked for: ALE picks the logic by MD5 or stem, first match in its list, and
# Tetris (found by MD5) comes before Up'n Down there, so the oracle runs Tetris (its info line
# says "game":"tetris").
# The tests never run the oracle; test_game_parity.cpp reads this file.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
kit="${ATARI_SHARED_DIR:-$repo/../shared/atari}"
oracle="$kit/ale-oracle"
steps=400
out="$here/games_on_tetris.txt"
{
  echo "# made by make_game_goldens.sh: ale-oracle --rom tetris.bin --game ID --random $steps --seed 1 --reset-on-terminal"
  echo "# line: kind tia_frames frame episode_frame action reward terminal lives screen"
  for game in alien amidar assault asterix bank_heist boxing breakout chopper_command \
      crazy_climber freeway frostbite gopher hero jamesbond kangaroo krull kung_fu_master pong \
      private_eye qbert road_runner seaquest beam_rider enduro space_invaders tetris; do
    echo "game $game"
    "$oracle" --rom "$kit/roms/tetris.bin" --game "$game" --random "$steps" --seed 1 \
        --reset-on-terminal 2>/dev/null |
      python3 -c '
import json, sys
for line in sys.stdin:
    j = json.loads(line)
    if j["kind"] not in ("reset", "step"):
        continue
    print(j["kind"], j["tia_frames"], j["frame"], j["episode_frame"], j.get("action", "-"),
          j.get("reward", "-"), int(j["terminal"]), j["lives"], j["screen"])'
  done
} > "$out"
