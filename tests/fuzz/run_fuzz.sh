#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh [seconds]: builds the two loader fuzzers with clang's libFuzzer and runs
# each for half of a bounded time (default 60 s in all):
#   fuzz_checkpoint  the checkpoint loader (nn/checkpoint.hpp: model.dqn, checkpoint.dqn)
#   fuzz_snapshot    the run snapshot loader (rl/trainer.hpp: snapshot.bin, what `resume` reads)
# Exits non-zero when a fuzzer finds a crash, a sanitizer report, a leak, a timeout or an
# out-of-memory input; the input that did it is left in build/fuzz/<target>/ as crash-*, leak-*,
# timeout-* or oom-* (replay: build/fuzz/<target>/<target> FILE).
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
targets=(fuzz_checkpoint fuzz_snapshot)
rm -rf "$out/obj"
mkdir -p "$out/obj"

# -O1 -g keeps reports readable; no -Werror here (clang warns differently from the g++ build,
# which already enforces warnings). OpenMP is left out: the loaders are serial, and an
# uninstrumented OpenMP runtime only adds noise to the sanitizers.
flags=(-std=c++20 -O1 -g -march=native -fno-omit-frame-pointer
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -DEIGEN_DONT_PARALLELIZE -Wno-unknown-pragmas -I. -isystem /usr/include/eigen3)

# The snapshot loader rebuilds a whole trainer (envs, replay, agent), hence every library folder
# (envs/ links the emulator in envs/atari2600/ for its ROM games).
# Our own cartridge's bytes (envs/atari2600/bundled.hpp) are a source the build generates from
# roms/catch2600.bin (cmake/embed_rom.cmake); it is generated here the same way.
mkdir -p "$out/generated"
cmake -DIN=envs/atari2600/roms/catch2600.bin -DOUT="$out/generated/catch2600_rom.cpp" \
  -DNAME=catch2600_rom -P cmake/embed_rom.cmake
library=(core/*.cpp nn/*.cpp envs/*.cpp envs/atari2600/*.cpp rl/*.cpp
         "$out/generated/catch2600_rom.cpp")
sources=("${library[@]}")
for target in "${targets[@]}"; do sources+=("tests/fuzz/$target.cpp"); done
echo "compiling ${#sources[@]} sources with $cxx into $out/obj ($jobs at a time)"
object() { echo "$out/obj/$(tr / _ <<<"$1").o"; }
compile() { "$cxx" "${flags[@]}" -c "$1" -o "$(object "$1")"; }
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
library_objects=()
for src in "${library[@]}"; do library_objects+=("$(object "$src")"); done

# Each target gets half the time: CI's 60 s stays 60 s in all.
per_target=$(( (seconds + 1) / 2 ))
for target in "${targets[@]}"; do
  dir="$out/$target"
  rm -rf "$dir/seeds"
  mkdir -p "$dir/seeds" "$dir/corpus"
  "$cxx" -fsanitize=fuzzer,address,undefined "${library_objects[@]}" \
    "$(object "tests/fuzz/$target.cpp")" -o "$dir/$target"
  # Seed corpus: valid files written by the target itself (see its source), so the seeds always
  # match the current format version.
  DQN_FUZZ_WRITE_SEEDS="$dir/seeds" "$dir/$target" -runs=0 "$dir/seeds" >/dev/null 2>&1
  echo "fuzzing $target for ${per_target} s"
  "$dir/$target" "$dir/corpus" "$dir/seeds" -max_total_time="$per_target" \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$dir/" -print_final_stats=1
done
