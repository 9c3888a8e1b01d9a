#!/usr/bin/env bash
# tests/tools/bad_inputs.sh DQN [TABLE.md]: every way a user can hand a run bad input, run for
# real through the built `dqn` program (and once through tools/dqn from outside the repository),
# each checked for its exit code (0 ok, 1 runtime error, 2 usage error) and the message's first
# line. Prints the table the runs issue asks for (input, exit code, first line) and writes it to
# TABLE.md when given. Exits 1 if any case ends otherwise than expected. ctest runs it.
#
# Processes that could hang (a FIFO, /dev/zero, `trace --state nan`) run under `timeout`, so a
# regression shows as exit 124 instead of a stuck suite.
set -uo pipefail

dqn="$(realpath "${1:?usage: bad_inputs.sh path/to/dqn [table.md]}")"
table_out="${2:+$(realpath -m "$2")}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/dqn_bad_inputs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failures=0
checks=0
rows=()
# A quick CartPole run: a few hundred steps, a tiny network, no periodic evaluation.
quick=(--steps 300 --set hidden=8 --set learning_starts=100 --set final_eval_episodes=1)

# check NAME EXPECTED_CODE PATTERN -- COMMAND...: runs COMMAND (60 s at most, or $limit seconds
# where the caller sets it), then checks the exit code and that PATTERN (grep -E) matches the
# output. The table shows stderr's first line, or stdout's where stderr is empty.
check() {
  local name="$1" expected="$2" pattern="$3"
  shift 4
  local out err code first
  out="$(timeout "${limit:-60}" "$@" 2>"$work/stderr" </dev/null)"
  code=$?
  err="$(cat "$work/stderr")"
  first="$(printf '%s\n' "${err:-$out}" | head -n 1)"
  local verdict="ok"
  checks=$((checks + 1))
  if [[ "$code" != "$expected" ]] || ! grep -qE -- "$pattern" <<<"$out"$'\n'"$err"; then
    verdict="FAILED (expected exit $expected and /$pattern/)"
    failures=$((failures + 1))
    printf 'FAILED: %s\n  exit %s\n  stdout: %s\n  stderr: %s\n' "$name" "$code" "$out" "$err" >&2
  fi
  rows+=("| $name | $code | \`${first//|/\\|}\` | $verdict |")
}

# --- 1. presets and config files
check "--set preset=seed" 0 "preset seed" -- "$dqn" train --set preset=seed "${quick[@]}" --out seed_run
grep -q '^lr = 0.0001$' seed_run/config.txt || { echo "FAILED: seed preset values not loaded" >&2; failures=$((failures + 1)); }
printf 'env = breakout\npreset = atari\nfinal_eval_episodes = 0\n' >atari.conf
check "config file: preset = atari, env = breakout" 0 "preset atari" -- \
  "$dqn" train --config atari.conf --steps 40 --out atari_run
grep -q '^learning_starts = 80000$' atari_run/config.txt || { echo "FAILED: atari preset values not loaded" >&2; failures=$((failures + 1)); }
printf 'lr = 1e-3\nlr = 2e-3\n' >dup.conf
check "config file with a duplicate key" 2 "set a second time" -- "$dqn" train --config dup.conf
check "--preset ''" 2 "--preset is empty" -- "$dqn" train --preset ''
check "--preset atari --set preset=seed" 2 "contradicts" -- "$dqn" train --preset atari --set preset=seed
check "--config DIR (a folder)" 2 "is a folder, not a config file" -- "$dqn" train --config seed_run

# --- 2. run folders
check "train again into an existing run (--out)" 1 "already holds a run" -- \
  "$dqn" train "${quick[@]}" --out seed_run
check "the same with --overwrite" 0 "-> seed_run" -- "$dqn" train "${quick[@]}" --out seed_run --overwrite
check "default folder, first run" 0 "runs/cartpole__cartpole__3__" -- "$dqn" train "${quick[@]}" --seed 3
check "default folder, same settings again" 0 "runs/cartpole__cartpole__3__" -- "$dqn" train "${quick[@]}" --seed 3
if [[ "$(ls runs | wc -l)" != 2 ]]; then echo "FAILED: two runs did not get two folders" >&2; failures=$((failures + 1)); fi

# --- 3. resume
check "resume a finished run" 1 "has finished" -- "$dqn" resume seed_run
long=(--steps 20000 --set hidden=128,128 --set checkpoint_interval=1000 --set final_eval_episodes=2)
"$dqn" train "${long[@]}" --out straight >/dev/null 2>&1
"$dqn" train "${long[@]}" --out killed >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [[ -f killed/snapshot.bin ]] && break; sleep 0.05; done
sleep 0.1  # past the snapshot, into steps no snapshot covers
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# The resume trains 19,000 steps: about 2 s in a release build, but over 60 s under ASan on a
# slow CI machine (a CI run timed out here at 60 s). The limit guards against a hang, not speed.
limit=600 check "kill -9 mid-run, then resume" 0 "done: 20000 env steps" -- "$dqn" resume killed
if ! cmp -s straight/metrics.jsonl killed/metrics.jsonl; then
  echo "FAILED: the killed and resumed run's metrics.jsonl differs from the straight run's" >&2
  failures=$((failures + 1))
fi
"$dqn" train "${long[@]}" --out termed >termed.out 2>&1 &
pid=$!
for _ in $(seq 600); do [[ -f termed/metrics.jsonl && -s termed/metrics.jsonl ]] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
code=$?
first="$(grep -m1 'stopped at env step' termed.out)"
if [[ "$code" == 0 && -f termed/snapshot.bin && -n "$first" ]]; then verdict=ok; else
  verdict="FAILED (expected exit 0, a snapshot and 'stopped at env step')"; failures=$((failures + 1)); fi
rows+=("| SIGTERM during training | $code | \`$first\` | $verdict |")
cp termed/snapshot.bin flipped.bin
size=$(stat -c %s flipped.bin)
printf '\xff' | dd of=termed/snapshot.bin bs=1 seek=$((size / 2)) conv=notrunc status=none
check "resume a snapshot with a flipped byte" 1 "snapshot" -- "$dqn" resume termed
cp flipped.bin termed/snapshot.bin

# --- 3b. games and ROMs (issue #17): the built-in games' bare names are refused on a command
# line; an ALE game without its ROM, or with a ROM that is not its own, names the file expected.
check "--env pong (now mini:pong or ale:pong)" 2 "is now mini:pong.*ale:pong" -- \
  "$dqn" train --env pong --out bare_pong
check "--env ale:pong without a ROM" 1 "pong.bin \\(md5 60e0ea3cbe0913d39803477945e9e5ec.*ale-py" -- \
  env -u DQN_ROMS "$dqn" train --env ale:pong --out no_rom
head -c 2048 /dev/urandom >random.bin
check "--env ale:pong --rom (random bytes)" 1 "runs only as ale:raw" -- \
  "$dqn" train --env ale:pong --rom random.bin --out random_rom
mkdir -p roms_dir && cp random.bin roms_dir/
check "dqn roms DIR lists an unknown file as unrecognised" 0 "not recognised \\(1\\)" -- \
  "$dqn" roms roms_dir
check "dqn roms NOT_A_FOLDER" 2 "is not a folder" -- "$dqn" roms random.bin

# --- 4. memory
check "--env mini:breakout --steps 2000 (atari preset, 1M replay)" 0 "replay: 2001 transitions" -- \
  "$dqn" train --env mini:breakout --steps 2000 --set final_eval_episodes=0 --out breakout_run
check "a replay larger than the memory available" 1 "buffer_size = 1000000000" -- \
  "$dqn" train --env mini:breakout --steps 1000000000 --set buffer_size=1000000000 --out huge

# --- 5. paths: tools/dqn builds in the repository but runs in the caller's directory
mkdir -p elsewhere
check "tools/dqn train from outside the repository" 0 "-> runs/" -- \
  env -C elsewhere "$repo/tools/dqn" train "${quick[@]}"
elsewhere_run="$(ls -d elsewhere/runs/*/ 2>/dev/null | head -n 1)"
check "tools/dqn info on a relative path from there" 0 "network: mlp" -- \
  env -C "$elsewhere_run" "$repo/tools/dqn" info model.dqn

# --- 6. output errors
check "--out ''" 2 "--out is empty" -- "$dqn" train "${quick[@]}" --out ''
check "--out a file" 1 "is a file, not a folder" -- "$dqn" train "${quick[@]}" --out atari.conf
check "--out where no folder can be made (/proc)" 1 "cannot create the run folder" -- \
  "$dqn" train "${quick[@]}" --out /proc/dqn_run
check "--out with a 300-character name" 1 "file names stop at 255" -- \
  "$dqn" train "${quick[@]}" --out "$(printf 'n%.0s' $(seq 300))"
# A full disk mid-run: a 16 KB file-size limit (SIGXFSZ ignored, so writes fail with EFBIG).
check "a write failing mid-run (disk full)" 1 "is the disk full" -- \
  bash -c "trap '' XFSZ; ulimit -f 16; exec \"\$@\"" _ "$dqn" train --steps 50000 --out full_disk

# --- 7. untrusted files and numbers
check "info /dev/zero" 1 "not a regular file" -- "$dqn" info /dev/zero
mkfifo a_fifo
check "info on a FIFO" 1 "not a regular file" -- "$dqn" info a_fifo
check "eval DIR (a run folder)" 0 "episodes, return mean" -- "$dqn" eval seed_run --episodes 2
check "--steps 1x" 2 "total_steps must be a number" -- "$dqn" train --steps 1x
check "--steps 0x10" 2 "total_steps must be a number" -- "$dqn" train --steps 0x10
check "--steps nan" 2 "total_steps must be a number" -- "$dqn" train --steps nan
check "trace --state nan,0,0,0" 2 "'nan' is not a number" -- "$dqn" trace --state nan,0,0,0 --actions 1
check "eval --episodes 0x10" 2 "--episodes must be a whole number" -- "$dqn" eval seed_run --episodes 0x10

{
  echo "| input | exit | first line of the message | verdict |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$work/table.md"
cat "$work/table.md"
[[ -n "$table_out" ]] && cp "$work/table.md" "$table_out"
echo "bad inputs: $((checks - failures)) passed, $failures failed"
[[ "$failures" == 0 ]]
