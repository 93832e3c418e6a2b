"""Benchmark of the attention paths: `python -m attnviz bench attention [--json] [--repeats N]`.

Three implementations of one self-attention layer (d_model 256, 4 heads), in inference as
the app runs them (eval mode, torch.no_grad, no mask):

  fast       our MultiHeadSelfAttention, need_weights=False (scaled_dot_product_attention)
  weights    our MultiHeadSelfAttention, need_weights=True (explicit softmax, every head returned)
  torch_mha  torch.nn.MultiheadAttention(batch_first=True), need_weights=False

Each (impl, seq_len) runs in a fresh Python process so that one measurement's memory cannot
hide in another's. Time: the median of `repeats` forward passes after two warm-up passes.
Peak memory: the process's resident-set high-water mark (VmHWM) during the forward passes
minus its resident set just before them, i.e. the extra memory the attention call needed
(activations, intermediates, kernel workspaces; the input and the weights exist before).
The high-water mark is reset through /proc/self/clear_refs after a tiny warm-up that loads
kernels and starts the thread pool; where that file cannot be written, getrusage's
ru_maxrss is used instead (less precise: it may include import-time peaks).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPLS = ("fast", "weights", "torch_mha")
SEQ_LENS = (128, 512, 1024, 2048)
D_MODEL, N_HEADS = 256, 4
WARMUP = 2


def batch_for(seq_len: int) -> int:
    """8 sequences up to 512 tokens, 2 beyond (the same for every impl at a given length)."""
    return 8 if seq_len <= 512 else 2


# ---------------------------------------------------------------- measuring (in the child process)

def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_high_water_mark() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    try:
        fd = os.open("/proc/self/clear_refs", os.O_WRONLY)  # a kernel file, not one of ours
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def measure(impl: str, seq_len: int, batch: int, repeats: int, threads: int | None) -> dict:
    """One (impl, seq_len) measurement in this process: median ms and peak extra MiB."""
    import resource

    import torch
    from torch import nn

    from attnviz.nn.attention import MultiHeadSelfAttention

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    if impl == "torch_mha":
        module = nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True).eval()
        run = lambda x: module(x, x, x, need_weights=False)[0]  # noqa: E731
    elif impl in ("fast", "weights"):
        module = MultiHeadSelfAttention(D_MODEL, N_HEADS).eval()
        need_weights = impl == "weights"
        run = lambda x: module(x, need_weights=need_weights).output  # noqa: E731
    else:
        raise ValueError(f"unknown impl {impl!r}; choose one of {IMPLS}")

    with torch.no_grad():
        run(torch.randn(1, 8, D_MODEL))  # load kernels, start the thread pool
        x = torch.randn(batch, seq_len, D_MODEL)
        precise = _reset_high_water_mark()
        before_kib = _status_kib("VmRSS") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(WARMUP):
            run(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = run(x)
            times.append((time.perf_counter() - start) * 1000.0)
            del out
        peak_kib = _status_kib("VmHWM") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"impl": impl, "batch": batch, "seq_len": seq_len, "ms": round(statistics.median(times), 3),
            "peak_mib": round(max(0, peak_kib - before_kib) / 1024.0, 1)}


# ---------------------------------------------------------------- driving (in the parent process)

def run_in_child(impl: str, seq_len: int, batch: int, repeats: int, threads: int | None) -> dict:
    """Run `measure` in a fresh interpreter and read its one JSON line."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    job = json.dumps({"impl": impl, "seq_len": seq_len, "batch": batch, "repeats": repeats, "threads": threads})
    done = subprocess.run([sys.executable, "-m", "attnviz.bench.attention", "--worker", job], capture_output=True,
                          text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {impl} at {seq_len} tokens failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict], threads: int) -> str:
    by_key = {(r["impl"], r["seq_len"]): r for r in rows}
    lengths = sorted({r["seq_len"] for r in rows})
    impls = [i for i in IMPLS if any(r["impl"] == i for r in rows)]
    lines = [f"self-attention forward, d_model {D_MODEL}, {N_HEADS} heads, eval + no_grad, "
             f"{threads} threads; ms = median, peak = extra RSS of the call (MiB)",
             f"{'seq_len':>7} {'batch':>5} " + " ".join(f"{impl + ' ms':>13} {impl + ' MiB':>14}" for impl in impls)]
    for length in lengths:
        cells = []
        for impl in impls:
            row = by_key.get((impl, length))
            cells.append(f"{row['ms']:>13.2f} {row['peak_mib']:>14.1f}" if row else f"{'-':>13} {'-':>14}")
        lines.append(f"{length:>7} {batch_for(length):>5} " + " ".join(cells))
    if "fast" in impls and "torch_mha" in impls:
        lines.append("")
        for length in lengths:
            fast, ref = by_key.get(("fast", length)), by_key.get(("torch_mha", length))
            if fast and ref:
                speed = ref["ms"] / fast["ms"] if fast["ms"] else float("inf")
                memory = (f"{fast['peak_mib'] / ref['peak_mib']:.2f}x torch's memory" if ref["peak_mib"]
                          else "memory n/a")
                lines.append(f"L={length}: fast is {speed:.2f}x torch_mha's speed, {memory}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["train"]:
        from attnviz.bench.train import main as train_main

        return train_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m attnviz bench",
                                     description="Time and memory of the attention implementations.")
    parser.add_argument("what", choices=["attention", "train"],
                        help="what to benchmark (train: see python -m attnviz bench train --help)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    parser.add_argument("--repeats", type=int, default=10, help="timed forward passes per measurement (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=list(SEQ_LENS), help=argparse.SUPPRESS)
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rows = []
    for seq_len in args.seq_lens:
        for impl in args.impls:
            row = run_in_child(impl, seq_len, batch_for(seq_len), args.repeats, args.threads)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        import torch
        print(format_table(rows, args.threads or torch.get_num_threads()))
    return 0


def _worker(job: str) -> int:
    spec = json.loads(job)
    print(json.dumps(measure(spec["impl"], spec["seq_len"], spec["batch"], spec["repeats"], spec["threads"])))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
