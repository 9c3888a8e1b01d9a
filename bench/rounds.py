#!/usr/bin/python3
"""bench/rounds.py: benchmark binaries side by side, in turn, round after round.

    bench/rounds.py ROUNDS BINARY@FILTER [BINARY@FILTER ...] [--min-time S]

Each round runs every BINARY once with --benchmark_filter=FILTER, one after the other, so that
whatever the machine is doing at a given minute falls on all of them alike; at the end it
prints, per benchmark and binary, the fastest round and the median of the wall-clock times.
Why rounds: on the project's shared 2-vCPU VMs the same binary's CNN update has taken 11.3 and
15.4 ms a minute apart, more than most changes being measured, so a ratio is only worth what
the binaries' alternation makes it; for that reason it also prints, per benchmark, each binary's
time over the first binary's in the same round, the median of those ratios. Example (an old
build beside the current one, with the peak in the same rounds):

    OMP_WAIT_POLICY=passive bench/rounds.py 5 \\
        build/release/bench/bench_peak@BM_peak_fma \\
        /tmp/old/bench/bench_update@BM_CnnUpdate/ build/release/bench/bench_update@BM_CnnUpdate/
"""
import argparse
import json
import statistics
import subprocess

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rounds", type=int)
    ap.add_argument("runs", nargs="+", help="BINARY@FILTER")
    ap.add_argument("--min-time", default="0.3", help="--benchmark_min_time of each run (s)")
    args = ap.parse_args()
    times = {}
    for _ in range(args.rounds):
        for run in args.runs:
            binary, _, flt = run.partition("@")
            out = subprocess.run([binary, "--benchmark_format=json", "--benchmark_filter=" + flt,
                                  "--benchmark_min_time=" + args.min_time],
                                 capture_output=True, text=True, check=True).stdout
            for b in json.loads(out)["benchmarks"]:
                key = (b["name"].replace("/real_time", ""), binary)
                times.setdefault(key, []).append(b["real_time"] * UNIT_MS[b["time_unit"]])
    width = max(len(name) for name, _ in times)
    for (name, binary), t in sorted(times.items()):
        print("%-*s  %-40s  min %10.3f ms  median %10.3f ms  (%d rounds)"
              % (width, name, binary[-40:], min(t), statistics.median(t), len(t)))
    # Paired: where a benchmark ran in several binaries, each later binary's time over the first
    # one's in the same round, median over the rounds. The VM's slow minutes fall on both
    # halves of a pair, so this ratio resolves changes that the two medians above, each spread
    # over the whole run, do not.
    firsts = {}
    for run in args.runs:
        binary = run.partition("@")[0]
        for (name, b) in times:
            if b == binary:
                firsts.setdefault(name, binary)
    for (name, binary), t in sorted(times.items()):
        base = times[(name, firsts[name])]
        if binary == firsts[name] or len(base) != len(t):
            continue
        ratios = [x / y for x, y in zip(t, base)]
        print("%-*s  %-40s  paired median %.3f of %s  (%d of %d rounds faster)"
              % (width, name, binary[-40:], statistics.median(ratios), firsts[name][-40:],
                 sum(r < 1 for r in ratios), len(ratios)))


if __name__ == "__main__":
    main()
