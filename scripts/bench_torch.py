#!/usr/bin/python3
"""PyTorch counterpart of `norma bench`: the same cases, timed the same way (median of R runs
after one warm-up run), for comparison on the same machine.

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/bench_torch.py --threads 2 [--repeats 5] [--large]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def sgemm_case(n, large):
    def setup():
        g = torch.Generator().manual_seed(1)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        return lambda: torch.mm(a, b, out=c)
    return (f"sgemm {n}^3", 2.0 * n ** 3, large, setup)


def conv_case(N, C, S, backward):
    fwd = 2.0 * N * C * C * 9 * S * S

    def setup():
        g = torch.Generator().manual_seed(2)
        x = torch.randn(N, C, S, S, generator=g)
        w = torch.randn(C, C, 3, 3, generator=g) * 0.05
        b = torch.randn(C, generator=g)
        gout = torch.randn(N, C, S, S, generator=g)
        if not backward:
            def run():
                with torch.no_grad():
                    F.conv2d(x, w, b, padding=1)
            return run
        for t in (x, w, b):
            t.requires_grad_()

        def run():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, padding=1).backward(gout)
        return run
    name = f"conv2d 3x3 {C}->{C} [{N},{C},{S},{S}] " + ("fwd+bwd" if backward else "fwd")
    return (name, 3 * fwd if backward else fwd, False, setup)


def median_ms(run, repeats):
    run()  # warm-up
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--large", action="store_true", help="also sgemm 4096^3")
    p.add_argument("--filter", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = [sgemm_case(1024, False), sgemm_case(4096, True), conv_case(128, 64, 32, False),
             conv_case(128, 64, 32, True)]
    print(f"torch {torch.__version__} bench: {args.threads} threads, median of {args.repeats} runs after a warm-up"
          f" (mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'})")
    print(f"{'case':<40} {'median ms':>12} {'GFLOP/s':>10}")
    for name, flops, large, setup in cases:
        if (large and not args.large) or args.filter not in name:
            continue
        ms = median_ms(setup(), args.repeats)
        print(f"{name:<40} {ms:12.2f} {flops / (ms * 1e6):10.1f}", flush=True)


if __name__ == "__main__":
    main()
