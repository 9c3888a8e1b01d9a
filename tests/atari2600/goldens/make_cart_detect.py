#!/usr/bin/env python3
"""tests/atari2600/goldens/make_cart_detect.py: asks the ALE oracle which cartridge class it
picks for synthetic images, and writes cart_detect.txt (size, pattern, class) for
tests/atari2600/test_cartridge.cpp, which builds the same images (see make_image there).

    make_cart_detect.py ALE_ORACLE > cart_detect.txt

Image: byte i = (7 i + 3) mod 256, reset vector $F000; patterns:
  plain            nothing else
  sc_all           every 4K bank starts with 256 bytes of $55 (Superchip RAM image)
  sc_distinct      the same with $10 + bank
  sc_two           only banks 0 and 1
  sc_128           every bank, only 128 bytes
  sig:HEX          the bytes HEX at offset $400
  sig2:HEX         the bytes HEX at offsets $400 and $440
  sc_all+sig:HEX   both
  halves           the second half of the image is a copy of the first
  sig@N:HEX        the bytes HEX at offset N (negative: from the end)
"""
import json
import subprocess
import sys
import tempfile


def make_image(size, pattern):
    d = bytearray((7 * i + 3) & 0xFF for i in range(size))
    d[-4], d[-3] = 0x00, 0xF0
    for part in pattern.split("+"):
        if part.startswith("sc_"):
            banks = range(size // 4096) if part != "sc_two" else range(2)
            for b in banks:
                n = 128 if part == "sc_128" else 256
                v = 0x10 + b if part == "sc_distinct" else 0x55
                d[b * 4096:b * 4096 + n] = bytes([v]) * n
        elif part == "halves":
            d[size // 2:] = d[:size // 2]
        elif part.startswith("sig@"):
            where, hexs = part[4:].split(":")
            sig = bytes.fromhex(hexs)
            off = int(where) % size
            d[off:off + len(sig)] = sig
        elif part.startswith("sig"):
            sig = bytes.fromhex(part.split(":")[1])
            d[0x400:0x400 + len(sig)] = sig
            if part.startswith("sig2"):
                d[0x440:0x440 + len(sig)] = sig
    return bytes(d)


CASES = [(2048, "plain"), (4096, "plain"), (2048, "sig2:853f"), (4096, "sig2:853f")]
for size in (8192, 16384, 32768):
    CASES += [(size, "plain"), (size, "sc_all"), (size, "sc_distinct"), (size, "sc_two"),
              (size, "sc_128"), (size, "sig:853f"), (size, "sig2:853f"),
              (size, "sc_all+sig2:853f"), (size, "sig:8de01f"), (size, "sig:2000d0c6c5")]
for sig in ("8de05f", "8de9ff", "ade9ff", "adedff", "adf3bf", "ade01f", "20c3f8a582",
            "d0fb2073fe", "2000f084d6", "2000d0c6"):
    CASES.append((8192, "sig:" + sig))
CASES += [(8192, "sc_all+sig:8de01f"), (6144, "sig2:853f"), (131072, "sig2:853f")]
CASES += [(8192, "halves"), (4096, "halves"), (8192, "sig:853f853f"), (8192, "sig:853f00853f"),
          (8192, "sig:853f+sig@-2:853f"), (8192, "sig:853f+sig@-3:853f"),
          (8192, "sig@-3:8de01f"), (8192, "sig@-4:8de01f"),
          (8192, "sig2:853f+sig@1280:8de01f")]

oracle = sys.argv[1]
print("# cartridge class ALE's core picks per synthetic image (make_cart_detect.py)")
print("# size pattern class")
with tempfile.NamedTemporaryFile(suffix=".bin") as f:
    for size, pattern in CASES:
        f.seek(0)
        f.truncate()
        f.write(make_image(size, pattern))
        f.flush()
        out = subprocess.run([oracle, "--rom", f.name, "--game", "raw", "--frames", "0"],
                             capture_output=True, text=True).stdout
        cart = next(json.loads(l)["cart"] for l in out.splitlines() if '"info"' in l)
        print(size, pattern, cart)
