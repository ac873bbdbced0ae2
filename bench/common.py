"""Shared helpers for the benchmarks: timing, GPU memory, the measured bf16 matmul peak, JSON-lines output."""
import gc, json, os, platform, time
from pathlib import Path

import torch

RAW = Path(__file__).resolve().parent / "raw"


def machine() -> str:
    "One line describing where the benchmark ran."
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} x{os.cpu_count()} CPU, torch {torch.__version__}"


def bf16_matmul_peak(n: int = 8192, reps: int = 10) -> float:
    "Measured bf16 matmul rate in TFLOP/s (mean of `reps` n x n x n products after 3 warm-ups)."
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(reps): a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e12


def reset_gpu() -> None:
    "Free what the previous run left and restart the peak-memory counter."
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def write_jsonl(path: Path, rows: list[dict]) -> None:
    "Append rows (each with the machine and time) to a JSON-lines file."
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for r in rows: f.write(json.dumps({"machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **r}) + "\n")


def table(rows: list[dict], cols: list[str]) -> str:
    "A Markdown table of `cols` from `rows`."
    fmt = lambda v: f"{v:,.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
