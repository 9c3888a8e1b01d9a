#!/usr/bin/env python3
"""tests/atari2600/goldens/oracle_to_golden.py: turns ale-oracle JSON lines into a golden file.

Usage: oracle_to_golden.py RUN_LINE RAM_MODE < oracle.jsonl > golden.txt
  RUN_LINE  the run's parameters as the test reads them, e.g.
            "rom=shared:roms/tetris.bin game=tetris random=44500 seed=1 reset_on_terminal=1"
  RAM_MODE  full (the 128 RAM bytes as 256 hex digits) or hash (FNV-1a 64 of those bytes,
            16 hex digits: keeps a long run's golden small while still comparing all of RAM)

One line per oracle `reset` / `step` line: kind, step (- for reset), reward, terminal (0/1),
screen (the oracle's FNV-1a 64), ram. Written by the project for its own tests; the values are
the oracle's.
"""
import json
import sys


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    run, mode = sys.argv[1], sys.argv[2]
    print("# golden made by ale-oracle (ALE 0.12.1); regenerate with tests/atari2600/goldens/make_goldens.sh")
    print(f"# run: {run}")
    print(f"# ram: {mode}")
    print("# kind step reward terminal screen ram")
    for line in sys.stdin:
        j = json.loads(line)
        if j["kind"] not in ("reset", "step"):
            continue
        ram = j["ram"] if mode == "full" else fnv1a64(bytes.fromhex(j["ram"]))
        step = j.get("step", "-")
        print(f'{j["kind"]} {step} {j.get("reward", 0)} {int(j["terminal"])} {j["screen"]} {ram}')


main()
