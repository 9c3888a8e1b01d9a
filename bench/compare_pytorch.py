#!/usr/bin/python3
"""bench/compare_pytorch.py: the DQN workloads in PyTorch and in dqn, side by side, in one run.

Run from the repository root after a release build (./tools/dqn build):

    /usr/bin/python3 bench/compare_pytorch.py            # all workloads
    /usr/bin/python3 bench/compare_pytorch.py --quick    # fewer repeats, no CartPole runs

PyTorch comes from Debian's python3-torch and is never needed by the C++ build. Install
OpenBLAS too (apt-get install python3-torch libopenblas0-pthread): without it Debian's torch
runs its GEMMs on the reference BLAS (libblas3) and is 10x slower, which would flatter us. Each PyTorch
thread setting runs in its own process, since OpenBLAS reads its thread count at import:
  T = torch.set_num_threads, B = OPENBLAS_NUM_THREADS.
"T2 B2" is what a plain user gets on this 2-core machine (torch defaults to both cores and
OpenBLAS to all cores); the best of all settings is what an expert would pick.

Workloads (as ../shared/PEERS.md): MLP update (batch 64, 4-256-256-2), MLP act (batch 1),
Nature CNN update (batch 32) in FP32 and in bfloat16 mixed precision (PyTorch's
torch.autocast("cpu", dtype=torch.bfloat16) beside dqn's precision=bf16), CNN act (batch 1), and
the seed preset's 300-episode CartPole run. The table, headed by the CPU it ran on, is printed
and saved to bench/results/compare_pytorch.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "release")
SETTINGS = [(1, 1), (2, 2), (2, 1), (1, 2)]  # (torch threads, OpenBLAS threads)

WORKER = r'''
import json, sys, time, random, math, statistics
import numpy as np
import torch, torch.nn as nn
torch.set_num_threads(int(sys.argv[1]))
quick = sys.argv[2] == "1"
workloads = sys.argv[3].split(",")
torch.manual_seed(0)

def mlp():
    return nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))

def cnn(actions=6):
    return nn.Sequential(nn.Conv2d(4, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, actions))

def update_fn(net, target, opt, s, a, r, s2, d):
    def step():
        q = net(s).gather(1, a.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            y = r + 0.99 * target(s2).max(1).values * (1 - d)
        loss = nn.HuberLoss()(q, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
    return step

def timeit(fn, min_time):
    for _ in range(3): fn()
    times = []
    for _ in range(7):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time:
            fn(); n += 1
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)

out = {}
mt = 0.05 if quick else 0.3
if "mlp_update" in workloads:
    net, tgt = mlp(), mlp(); tgt.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    B = 64
    out["mlp_update"] = timeit(update_fn(net, tgt, opt, torch.randn(B, 4), torch.randint(0, 2, (B,)),
                                         torch.ones(B), torch.randn(B, 4), torch.zeros(B)), mt)
if "mlp_act" in workloads:
    net = mlp(); x = np.random.randn(4).astype(np.float32)
    def act():
        with torch.no_grad():
            return net(torch.FloatTensor(x).unsqueeze(0)).argmax().item()
    out["mlp_act"] = timeit(act, mt)
def cnn_step(bf16):
    """One Nature CNN update at batch 32. With bf16, mixed precision as PyTorch documents it for
    CPUs: the forward passes and the loss under torch.autocast("cpu", dtype=torch.bfloat16)
    (convolutions and linears in bfloat16 through oneDNN, FP32 master weights), backward and the
    optimizer outside it: what dqn's precision=bf16 does."""
    net, tgt = cnn(), cnn(); tgt.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    B = 32
    s = torch.randint(0, 256, (B, 4, 84, 84), dtype=torch.uint8)
    s2 = torch.randint(0, 256, (B, 4, 84, 84), dtype=torch.uint8)
    a = torch.randint(0, 6, (B,))
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            q = net(s.float() / 255.0).gather(1, a.unsqueeze(1)).squeeze(1)
            with torch.no_grad():
                y = 1.0 + 0.99 * tgt(s2.float() / 255.0).max(1).values
            loss = nn.HuberLoss()(q.float(), y.float())
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0); opt.step()
    return step
if "cnn_update" in workloads:
    out["cnn_update"] = timeit(cnn_step(False), mt * 3)
if "cnn_update_bf16" in workloads:
    out["cnn_update_bf16"] = timeit(cnn_step(True), mt * 3)
if "cnn_act" in workloads:
    net = cnn(); x = torch.randint(0, 256, (1, 4, 84, 84), dtype=torch.uint8)
    def act():
        with torch.no_grad():
            return net(x.float() / 255.0).argmax().item()
    out["cnn_act"] = timeit(act, mt)
if "seed_run" in workloads:
    # The seed snippet (shared/SEED.md) with its truncation bug fixed, on a numpy CartPole-v1 with
    # Gymnasium's equations, 300 episodes.
    class CartPole:
        def __init__(self, rng): self.rng = rng
        def reset(self):
            self.s = self.rng.uniform(-0.05, 0.05, 4); self.t = 0; return self.s.astype(np.float32)
        def step(self, a):
            x, xd, th, thd = self.s
            f = 10.0 if a == 1 else -10.0
            c, s_ = math.cos(th), math.sin(th)
            temp = (f + 0.05 * thd ** 2 * s_) / 1.1
            tha = (9.8 * s_ - c * temp) / (0.5 * (4.0 / 3.0 - 0.1 * c ** 2 / 1.1))
            xa = temp - 0.05 * tha * c / 1.1
            x, xd, th, thd = x + 0.02 * xd, xd + 0.02 * xa, th + 0.02 * thd, thd + 0.02 * tha
            self.s = np.array([x, xd, th, thd]); self.t += 1
            term = abs(x) > 2.4 or abs(th) > 12 * 2 * math.pi / 360
            return self.s.astype(np.float32), 1.0, term, self.t >= 500
    random.seed(0); rng = np.random.default_rng(0)
    env = CartPole(rng)
    net, tgt = mlp(), mlp(); tgt.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    buf, cap, steps, returns = [], 50000, 0, []
    start = time.perf_counter()
    for ep in range(300):
        s, total = env.reset(), 0.0
        while True:
            eps = 1.0 + min(steps / 10000, 1.0) * (0.01 - 1.0)
            if random.random() < eps: a = random.randrange(2)
            else:
                with torch.no_grad(): a = net(torch.FloatTensor(s).unsqueeze(0)).argmax().item()
            s2, r, term, trunc = env.step(a)
            buf.append((s, a, r, s2, float(term)))
            if len(buf) > cap: buf.pop(0)
            if len(buf) >= 64:
                batch = random.sample(buf, 64)
                bs, ba, br, bs2, bd = zip(*batch)
                update_fn(net, tgt, opt, torch.FloatTensor(np.array(bs)), torch.LongTensor(ba),
                          torch.FloatTensor(br), torch.FloatTensor(np.array(bs2)), torch.FloatTensor(bd))()
                steps += 1
                if steps % 1000 == 0: tgt.load_state_dict(net.state_dict())
            s, total = s2, total + r
            if term or trunc: break
        returns.append(total)
    out["seed_run"] = time.perf_counter() - start
    out["seed_run_last20"] = sum(returns[-20:]) / 20
print(json.dumps(out))
'''


def run_torch(torch_threads, blas_threads, quick, workloads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(torch_threads))
    res = subprocess.run([sys.executable, "-c", WORKER, str(torch_threads), "1" if quick else "0",
                          ",".join(workloads)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("PyTorch worker failed (T%d B%d):\n%s" % (torch_threads, blas_threads, res.stderr))
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_ours(quick, with_seed_run):
    bench = os.path.join(BUILD, "bench", "bench_update")
    res = subprocess.run([bench, "--benchmark_format=json",
                          "--benchmark_min_time=%s" % ("0.05" if quick else "0.5")],
                         capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)
    ours = {}
    names = {"BM_MlpUpdate/threads:1": "mlp_update@1", "BM_MlpUpdate/threads:2": "mlp_update@2",
             "BM_CnnUpdate/threads:1": "cnn_update@1", "BM_CnnUpdate/threads:2": "cnn_update@2",
             "BM_CnnUpdateBf16/threads:1": "cnn_update_bf16@1",
             "BM_CnnUpdateBf16/threads:2": "cnn_update_bf16@2",
             "BM_MlpAct": "mlp_act@1", "BM_CnnAct/threads:1": "cnn_act@1",
             "BM_CnnAct/threads:2": "cnn_act@2"}
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    for b in data["benchmarks"]:
        name = b["name"].replace("/real_time", "")
        if name in names:
            ours[names[name]] = b["real_time"] * unit[b["time_unit"]]
    if with_seed_run:
        for threads in (1, 2):
            # The script's own scratch run, removed before each call (outside the timing): left
            # in place, the script's second call stopped at dqn's refusal to overwrite a run.
            out_dir = os.path.join(BUILD, "compare_seed_run_t%d" % threads)
            shutil.rmtree(out_dir, ignore_errors=True)
            start = time.perf_counter()
            res = subprocess.run([os.path.join(BUILD, "tools", "dqn"), "train", "--preset", "seed",
                                  "--set", "max_episodes=300", "--set", "final_eval_episodes=0",
                                  "--threads", str(threads), "--out", out_dir],
                                 capture_output=True, text=True, check=True)
            ours["seed_run@%d" % threads] = time.perf_counter() - start
            returns = []
            with open(os.path.join(out_dir, "metrics.jsonl")) as f:
                for line in f:
                    rec = json.loads(line)
                    if rec.get("type") == "episode":
                        returns.append(rec["return"])
            ours["seed_run_last20@%d" % threads] = sum(returns[-20:]) / 20
    return ours


def fmt_time(seconds):
    if seconds >= 1: return "%.2f s" % seconds
    if seconds >= 1e-3: return "%.3f ms" % (seconds * 1e3)
    return "%.1f us" % (seconds * 1e6)


def cpu_model():
    """The CPU's name, family and model from /proc/cpuinfo (a VM may report only "AMD EPYC")."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if ":" in line:
                k, v = line.split(":", 1)
                info.setdefault(k.strip(), v.strip())
    flags = info.get("flags", "").split()
    extras = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return "%s (family %s, model %s; %s)" % (info.get("model name", "?"), info.get("cpu family", "?"),
                                             info.get("model", "?"), ", ".join(extras) or "no AVX-512")


def bf16_kernels():
    """What dqn's precision=bf16 runs on this build, as its benchmark labels it."""
    bench = os.path.join(BUILD, "bench", "bench_update")
    res = subprocess.run([bench, "--benchmark_format=json", "--benchmark_filter=BM_CnnUpdateBf16/threads:1/",
                          "--benchmark_min_time=0.01"], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)["benchmarks"][0].get("label", "?")


def check_blas():
    """Refuses to compare against torch on the reference BLAS (see the module docstring)."""
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    if "openblas" not in blas:
        sys.exit("libblas.so.3 is %s, not OpenBLAS: apt-get install libopenblas0-pthread first, "
                 "or PyTorch's figures are those of the reference BLAS" % blas)


def main():
    check_blas()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short timings, skip the CartPole runs")
    args = ap.parse_args()
    workloads = ["mlp_update", "mlp_act", "cnn_update", "cnn_update_bf16", "cnn_act"]
    if not args.quick: workloads.append("seed_run")
    torch_results = {}
    for t, b in SETTINGS:
        print("PyTorch T%d B%d ..." % (t, b), file=sys.stderr, flush=True)
        torch_results[(t, b)] = run_torch(t, b, args.quick, workloads)
    print("dqn ...", file=sys.stderr, flush=True)
    ours = run_ours(args.quick, "seed_run" in workloads)
    lines = ["| workload | PyTorch T1 B1 | PyTorch T2 B2 (plain user) | PyTorch T2 B1 | PyTorch T1 B2 "
             "| dqn 1 thread | dqn 2 threads | vs plain user | vs PyTorch's best |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w in workloads:
        row = [torch_results[s][w] for s in SETTINGS]
        mine = [ours.get("%s@1" % w), ours.get("%s@2" % w)]
        best_ours = min(x for x in mine if x is not None)
        cells = [w] + [fmt_time(x) for x in row] + [fmt_time(x) if x else "-" for x in mine]
        cells += ["%.1fx" % (row[1] / best_ours), "%.1fx" % (min(row) / best_ours)]
        lines.append("| " + " | ".join(cells) + " |")
    if "seed_run" in workloads:
        lines.append("")
        lines.append("Seed run last-20-episode mean return: PyTorch " + ", ".join(
            "T%dB%d %.1f" % (s[0], s[1], torch_results[s]["seed_run_last20"]) for s in SETTINGS) +
            "; dqn 1 thread %.1f, 2 threads %.1f" % (ours["seed_run_last20@1"], ours["seed_run_last20@2"]))
    lines = ["CPU: %s; dqn's bf16 kernels: %s" % (cpu_model(), bf16_kernels()), ""] + lines
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "compare_pytorch.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
