#!/usr/bin/env bash
# tests/fuzz/run_fuzz_atari.sh [seconds]: builds the Atari 2600 ROM-loader fuzzer with clang's
# libFuzzer and runs it for a bounded time (default 60 s), the same way run_fuzz.sh runs the
# checkpoint fuzzer. Exits non-zero on a crash, sanitizer report, leak, timeout or out-of-memory
# input, left in build/fuzz_atari/ (replay: build/fuzz_atari/fuzz_atari_rom FILE).
# Needs clang-14 and libclang-rt-14-dev (Debian 12). Environment: CXX (default clang++-14).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds="${1:-60}"
cxx="${CXX:-clang++-14}"
out=build/fuzz_atari
rm -rf "$out/obj" "$out/seeds"
mkdir -p "$out/obj" "$out/seeds" "$out/corpus"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -I.)
# Our own cartridge's bytes (envs/atari2600/bundled.hpp) are a source the build generates from
# roms/catch2600.bin (cmake/embed_rom.cmake); it is generated here the same way.
mkdir -p "$out/generated"
cmake -DIN=envs/atari2600/roms/catch2600.bin -DOUT="$out/generated/catch2600_rom.cpp" \
  -DNAME=catch2600_rom -P cmake/embed_rom.cmake
for src in envs/atari2600/*.cpp "$out/generated/catch2600_rom.cpp" tests/fuzz/fuzz_atari_rom.cpp; do
  "$cxx" "${flags[@]}" -c "$src" -o "$out/obj/$(tr / _ <<<"$src").o"
done
"$cxx" -fsanitize=fuzzer,address,undefined "$out"/obj/*.o -o "$out/fuzz_atari_rom"

# Seeds: the repository's probe ROMs (every scheme it has), prefixed with the "detect" byte.
for rom in tests/atari2600/probes/*.bin; do
  { printf '\xff'; cat "$rom"; } > "$out/seeds/$(basename "$rom")"
done

echo "fuzzing for ${seconds} s"
"$out/fuzz_atari_rom" "$out/corpus" "$out/seeds" -max_total_time="$seconds" \
  -rss_limit_mb=2048 -timeout=10 -max_len=40000 -artifact_prefix="$out/" -print_final_stats=1
