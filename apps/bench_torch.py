#!/usr/bin/python3
"""PyTorch side of `norma bench --compare-torch`: the cases of apps/bench_cases.cpp under the
same names, timed the same way (one warm-up run, one calibration run that sets how many
iterations a timed run repeats, ~50 ms' worth, then the median over R timed runs of the time
per iteration). The models are the PyTorch twins of norma's (tests/fixtures/gen_models.py).

    /usr/bin/python3 apps/bench_torch.py [--threads 2] [--repeats 5] [--filter TEXT]  # a table
    ... --serve      # what norma bench runs: reads "case NAME" lines, answers one JSON line each
    ... --peak-rss   # peak resident memory of three resnet20+BN training steps, as JSON

`norma bench --compare-torch` starts it with OPENBLAS_NUM_THREADS=1 and malloc keeping its
memory (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); run by hand, set those yourself.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # norma bench reads this line and says how to install torch
    print(json.dumps({"error": f"cannot import torch in {sys.executable}: {e}"}), flush=True)
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
sys.dont_write_bytecode = True  # no __pycache__ in the fixtures' folder
import gen_models  # noqa: E402  (the twin models; importing it writes nothing)


def model_case(name, norm, batch, train):
    def setup():
        torch.manual_seed(4)
        g = torch.Generator().manual_seed(4)
        net = gen_models.MODELS[name](norm)
        shape = gen_models.INPUT.get(name, [3, 32, 32])
        x = torch.randn(batch, *shape, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)
        if not train:
            net.eval()

            def infer():
                with torch.inference_mode():
                    net(x)
            return infer
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step():
            F.cross_entropy(net(x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step
    return (f"{name}-{norm} {'train' if train else 'infer'} b{batch}", setup)


def sgemm_case(n):
    def setup():
        g = torch.Generator().manual_seed(1)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        return lambda: torch.mm(a, b, out=c)
    return (f"sgemm {n}^3", setup)


def conv_case(backward):
    N, C, S = 128, 64, 32

    def setup():
        g = torch.Generator().manual_seed(2)
        x = torch.randn(N, C, S, S, generator=g)
        w = torch.randn(C, C, 3, 3, generator=g) * 0.05
        b = torch.randn(C, generator=g)
        gout = torch.randn(N, C, S, S, generator=g)
        if not backward:
            def fwd():
                with torch.inference_mode():
                    F.conv2d(x, w, b, padding=1)
            return fwd
        for t in (x, w, b):
            t.requires_grad_()

        def fwd_bwd():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, padding=1).backward(gout)
        return fwd_bwd
    return (f"conv2d 3x3 64->64 (128,64,32,32) {'fwd+bwd' if backward else 'fwd'}", setup)


class RMSNorm(nn.Module):  # torch 1.13 has no RMSNorm: the usual composition (eps as norma's default)
    def __init__(self, d, eps=torch.finfo(torch.float32).eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def norm_case(name, shape, make):
    def setup():
        g = torch.Generator().manual_seed(3)
        m = make()
        x = torch.randn(*shape, generator=g).requires_grad_()
        gout = torch.randn(*shape, generator=g)

        def fwd_bwd():
            x.grad = None
            m.zero_grad(set_to_none=True)
            m(x).backward(gout)
        return fwd_bwd
    return (name, setup)


def cases():
    out = []
    for train in (True, False):
        out += [model_case("mlp", "bn", 60, train), model_case("lenet", "bn", 128, train),
                model_case("resnet20", "bn", 128, train), model_case("resnet20", "gn", 128, train)]
    out += [sgemm_case(1024), sgemm_case(4096), conv_case(False), conv_case(True)]
    image, rows = (128, 64, 32, 32), (8192, 1024)
    out += [norm_case("batchnorm2d (128,64,32,32) fwd+bwd", image, lambda: nn.BatchNorm2d(64)),
            norm_case("groupnorm(32) (128,64,32,32) fwd+bwd", image, lambda: nn.GroupNorm(32, 64)),
            norm_case("layernorm (8192,1024) fwd+bwd", rows, lambda: nn.LayerNorm(1024)),
            norm_case("rmsnorm (8192,1024) fwd+bwd", rows, lambda: RMSNorm(1024))]
    return dict(out)


def median_seconds(run, repeats):
    def seconds(iters):
        t0 = time.perf_counter()
        for _ in range(iters):
            run()
        return time.perf_counter() - t0
    seconds(1)  # warm-up
    once = seconds(1)
    iters = int(min(max(math.ceil(0.05 / max(once, 1e-9)), 1), 10000))
    return statistics.median(seconds(iters) / iters for _ in range(repeats))


def peak_rss():
    step = cases()["resnet20-bn train b128"]()
    with open("/proc/self/statm") as f:
        before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    for _ in range(3):
        step()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (norma bench).
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    return {"before_bytes": before, "peak_bytes": peak}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--filter", default="")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--peak-rss", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak_rss:
        print(json.dumps(peak_rss()), flush=True)
        return
    table = cases()
    backends = f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
    if args.serve:
        print(json.dumps({"torch": torch.__version__, "backends": backends, "threads": torch.get_num_threads()}),
              flush=True)
        for line in sys.stdin:
            name = line.strip()
            name = name[5:] if name.startswith("case ") else name
            if name not in table:
                print(json.dumps({"name": name, "error": "unknown case"}), flush=True)
                continue
            print(json.dumps({"name": name, "seconds": median_seconds(table[name](), args.repeats)}), flush=True)
        return
    print(f"torch {torch.__version__} ({backends}): {args.threads} threads, median of {args.repeats} runs")
    for name, setup in table.items():
        if args.filter in name:
            print(f"{name:<40} {median_seconds(setup(), args.repeats) * 1e3:12.3f} ms", flush=True)


if __name__ == "__main__":
    main()
