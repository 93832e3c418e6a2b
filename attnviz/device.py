"""Where to run: CUDA when available, else Apple MPS, else the CPU; and which mixed precision."""
from __future__ import annotations

import functools
import time

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """"auto" -> cuda, else mps, else cpu. An explicit device that is missing is a clear error."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is available; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("Apple MPS was asked for but is not available; use --device cpu or auto")
    return device


def cpu_supports_bf16() -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (AVX512-BF16 or AMX)."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool((probe is not None and probe()) or (amx is not None and amx()))
    except RuntimeError:
        return False


@functools.cache
def cpu_bf16_is_faster(rows: int = 1024, width: int = 384, repeats: int = 5) -> bool:
    """Whether a [rows, width] x [width, 4 * width] product runs faster under bfloat16 autocast than in
    float32 on this CPU, measured once per process (best of `repeats`, ~0.1 s). Native bf16 instructions
    do not settle it: on one AVX512-BF16 machine without AMX, float32 ran 1.8x faster."""
    if not cpu_supports_bf16():
        return False
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(rows, width, generator=generator)
    right = torch.randn(width, 4 * width, generator=generator)

    def best_time(autocast: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            torch.mm(left, right)  # warm-up: kernels chosen, weights cast
            for _ in range(repeats):
                start = time.perf_counter()
                torch.mm(left, right)
                times.append(time.perf_counter() - start)
        return min(times)

    return best_time(True) < best_time(False)


def pick_precision(device: torch.device, requested: str = "auto") -> str:
    """"fp32", "bf16" or "fp16" (autocast). auto: CUDA bf16 where supported, else fp16; CPU bf16
    when the CPU has native bf16 instructions, else fp32; fp32 elsewhere (MPS)."""
    if requested not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"unknown precision {requested!r}; choose auto, fp32, bf16 or fp16")
    if device.type == "cpu":
        if requested == "fp16":
            raise ValueError("fp16 mixed precision needs a CUDA GPU; on the CPU use bf16 or fp32")
        if requested == "auto":
            return "bf16" if cpu_supports_bf16() else "fp32"
        return requested
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise ValueError(f"{requested} mixed precision needs a CUDA GPU or a CPU; this run is on {device.type}")
        return "fp32"
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H200"."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
