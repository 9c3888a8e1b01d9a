#!/usr/bin/env python3
"""tests/atari2600/probes/measure_hmove.py: measures ALE's HMOVE motion table with the
hmove_table probe and prints it as the C++ table in envs/atari2600/tia.cpp.

    measure_hmove.py ALE_ORACLE > table.txt

The probe resets player 0 (one pixel) to x = 57 on line A, does HMOVE at CPU cycle c on line B
with HMP0 = v << 4, and line C shows the player at 57 - motion. Frame f tests v = (f >> 1) & 15,
cycles 3..39 on even frames and 40..75 on odd ones.
"""
import json
import os
import subprocess
import sys
import tempfile

oracle = sys.argv[1]
rom = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hmove_table.bin")
with tempfile.TemporaryDirectory() as tmp:
    screens = os.path.join(tmp, "screens")
    out = subprocess.run([oracle, "--rom", rom, "--game", "raw", "--frames", "40",
                          "--dump-screens", screens], check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in out.stdout.splitlines()][1:]
    data = open(screens, "rb").read()
n = 160 * 210
table = {}
for index, line in enumerate(lines):
    if line["kind"] not in ("reset", "step"):
        continue
    frame = (int(line["ram"][0:2], 16) - 1) & 255  # $80 counts frames; read after the frame
    value = (frame >> 1) & 15
    cycles = range(3, 40) if frame % 2 == 0 else range(40, 76)
    screen = data[index * n:(index + 1) * n]
    for test, cycle in enumerate(cycles):
        row = 3 * test
        # An HMOVE at cycle 75 ends so late that the following STA WSYNC lands on the next
        # line and its "line C" is the line after: read one row further down.
        if cycle == 75:
            row += 1
        xs = [x for x in range(160) if screen[row * 160 + x] == 0x1E]
        assert len(xs) == 1, (frame, cycle, xs)
        table[(cycle, value)] = 57 - xs[0]
assert len(table) == 73 * 16, len(table)
print("// Measured by tests/atari2600/probes/measure_hmove.py (probe hmove_table): pixels moved")
print("// left by HMOVE at CPU cycle c of a line (row) for HMxx >> 4 = 0..15 (column). Cycles 0-2,")
print("// out of this probe's reach, repeat cycle 3 (probe hmove_early shows ALE agrees).")
print("constexpr std::int8_t kHmoveMotion[76][16] = {")
for cycle in range(76):
    c = max(cycle, 3)
    print("    {" + ", ".join(str(table[(c, v)]) for v in range(16)) + "},  // " + str(cycle))
print("};")
