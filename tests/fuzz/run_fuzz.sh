#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh [seconds]: builds the checkpoint-loader fuzzer with clang's libFuzzer
# and runs it for a bounded time (default 60 s). Exits non-zero when the fuzzer finds a crash, a
# sanitizer report, a leak, a timeout or an out-of-memory input; the input that did it is left in
# build/fuzz/ as crash-*, leak-*, timeout-* or oom-* (replay: build/fuzz/fuzz_checkpoint FILE).
#
# Separate from the CMake build on purpose: that build uses g++, which has no libFuzzer, and the
# fuzzer needs every object instrumented (-fsanitize=fuzzer-no-link) while only the final link
# takes the fuzzer's main. Needs clang-14 and libclang-rt-14-dev (Debian 12); .ci/run installs them.
#
# Environment: CXX (default clang++-14), DQN_FUZZ_JOBS parallel compiles (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds="${1:-60}"
cxx="${CXX:-clang++-14}"
jobs="${DQN_FUZZ_JOBS:-2}"
out=build/fuzz
rm -rf "$out/obj" "$out/seeds"
mkdir -p "$out/obj" "$out/seeds" "$out/corpus"

# -O1 -g keeps reports readable; no -Werror here (clang warns differently from the g++ build,
# which already enforces warnings). OpenMP is left out: the loader is serial, and an
# uninstrumented OpenMP runtime only adds noise to the sanitizers.
flags=(-std=c++20 -O1 -g -march=native -fno-omit-frame-pointer
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -DEIGEN_DONT_PARALLELIZE -Wno-unknown-pragmas -I. -isystem /usr/include/eigen3)

sources=(core/*.cpp nn/*.cpp tests/fuzz/fuzz_checkpoint.cpp)
echo "compiling ${#sources[@]} sources with $cxx into $out/obj ($jobs at a time)"
compile() { "$cxx" "${flags[@]}" -c "$1" -o "$out/obj/$(tr / _ <<<"$1").o"; }
running=()
for src in "${sources[@]}"; do
  compile "$src" &
  running+=($!)
  if ((${#running[@]} >= jobs)); then
    wait "${running[0]}"  # set -e: a failed compile stops the script here
    running=("${running[@]:1}")
  fi
done
for pid in "${running[@]}"; do wait "$pid"; done
"$cxx" -fsanitize=fuzzer,address,undefined "$out"/obj/*.o -o "$out/fuzz_checkpoint"

# Seed corpus: valid checkpoints written by the target itself (see fuzz_checkpoint.cpp), so the
# seeds always match the current format version.
DQN_FUZZ_WRITE_SEEDS="$out/seeds" "$out/fuzz_checkpoint" -runs=0 "$out/seeds" >/dev/null 2>&1

echo "fuzzing for ${seconds} s"
"$out/fuzz_checkpoint" "$out/corpus" "$out/seeds" -max_total_time="$seconds" \
  -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/" -print_final_stats=1
