"""Where a step's time goes on each rank: a torch profiler trace of a few training steps of a seqcls training, summarised per
phase (forward, backward, optimizer step) into compute, communication hidden under compute, communication alone, and idle.

    deepspeed --num_gpus N bench/profile_multigpu.py --profile-out DIR [--profile-steps 10 3] --config_yml C [--set K=V ...]
    python bench/profile_multigpu.py --summarize DIR/trace-rank0.json.gz     # the summary of a trace brought back

Each rank writes DIR/trace-rank{R}.json.gz (Chrome trace), DIR/summary-rank{R}.json and, for every step of the training,
its batch's shape and real tokens (DIR/batches-rank{R}.json), so a slow rank can be told from a rank with a costlier batch.
The phases are marked with `torch.profiler.record_function` around DeepSpeedEngine.forward/backward/step; on the GPU they
are the `gpu_user_annotation` ranges. Kernels whose name starts with "nccl" are communication; all others compute."""
import argparse, gzip, json, sys
from pathlib import Path



def _union(iv):
    "Merged intervals of a list of (start, end)."
    out = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]: out[-1][1] = max(out[-1][1], e)
        else: out.append([s, e])
    return out


def _length(iv) -> float: return sum(e - s for s, e in iv)


def _clip(iv, s, e): return [(max(a, s), min(b, e)) for a, b in iv if b > s and a < e]


def _minus(a, b):
    "Intervals of a (merged) not covered by b (merged)."
    out = []
    for s, e in a:
        cur = s
        for bs, be in b:
            if be <= cur or bs >= e: continue
            if bs > cur: out.append((cur, bs))
            cur = max(cur, be)
        if cur < e: out.append((cur, e))
    return out


def summarize(trace: dict) -> dict:
    """Per profiled step, in ms: the forward (its GPU range), the backward (from the forward's end to the optimizer step's
    start: autograd launches the backward's kernels from its own thread, outside the engine's range) and the optimizer
    step; for each, compute-kernel time, communication time, the communication not under compute ("exposed") and the time
    with no kernel at all ("idle": the GPU waits for the CPU). `mean` averages the steps; `nccl_kernels` counts them."""
    ev = trace["traceEvents"] if isinstance(trace, dict) else trace
    kern = [e for e in ev if e.get("cat") == "kernel" and "dur" in e]
    comm_k = lambda e: e["name"].lower().startswith("nccl")
    comp = _union([(e["ts"], e["ts"] + e["dur"]) for e in kern if not comm_k(e)])
    comm = _union([(e["ts"], e["ts"] + e["dur"]) for e in kern if comm_k(e)])
    cat = "gpu_user_annotation" if any(e.get("cat") == "gpu_user_annotation" for e in ev) else "user_annotation"  # a CPU trace: the CPU ranges
    fwd = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == cat and e.get("name") == "ds.forward")
    opt = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == cat and e.get("name") == "ds.step")
    steps = []
    for (f0, f1), (s0, s1) in zip(fwd, opt):
        row = {"total": round((s1 - f0) / 1e3, 2)}
        for name, (a, b) in (("forward", (f0, f1)), ("backward", (f1, s0)), ("step", (s0, s1))):
            c, m = _clip(comp, a, b), _clip(comm, a, b)
            row[name] = {"ms": (b - a) / 1e3, "compute": _length(c) / 1e3, "comm": _length(m) / 1e3,
                         "exposed": _length(_minus(m, c)) / 1e3, "idle": ((b - a) - _length(_union(c + m))) / 1e3}
            row[name] = {k: round(v, 2) for k, v in row[name].items()}
        steps.append(row)
    mean = {}
    if steps:
        mean["total"] = round(sum(r["total"] for r in steps) / len(steps), 2)
        for name in ("forward", "backward", "step"):
            mean[name] = {k: round(sum(r[name][k] for r in steps) / len(steps), 2) for k in steps[0][name]}
    nccl = {}
    for e in kern:
        if comm_k(e):
            k = e["name"].split("(")[0][:60]; nccl.setdefault(k, [0, 0.0]); nccl[k][0] += 1; nccl[k][1] += e["dur"] / 1e3
    return {"steps": steps, "mean": mean,
            "nccl_kernels": {k: [n, round(ms, 2)] for k, (n, ms) in sorted(nccl.items(), key=lambda x: -x[1][1])}}


def _mark_engine():
    "record_function ranges around the DeepSpeed engine's forward, backward and step (the phases of the summary)."
    import torch
    from deepspeed.runtime.engine import DeepSpeedEngine
    for name in ("forward", "backward", "step"):
        orig = getattr(DeepSpeedEngine, name)
        def wrapped(self, *a, _orig=orig, _name=f"ds.{name}", **k):
            with torch.profiler.record_function(_name): return _orig(self, *a, **k)
        setattr(DeepSpeedEngine, name, wrapped)


def profiler_callback(out: Path, first: int, active: int):
    import torch
    from transformers import TrainerCallback
    from seqcls.dist import get_rank

    class StepProfile(TrainerCallback):
        "Profiles steps [first, first+active) on this rank and records every step's batch shape."
        def __init__(self): self.prof, self.batches = None, []

        def on_train_begin(self, args, state, control, model=None, **kw):
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
            self.prof = torch.profiler.profile(activities=acts, schedule=torch.profiler.schedule(wait=max(first - 1, 0), warmup=1, active=active, repeat=1))
            self.prof.start()
            def shape(module, a, kwargs):
                if not module.training: return
                ids, pad = kwargs.get("input_ids"), module.config.pad_token_id
                if ids is None: return
                self.batches.append({"step": state.global_step, "shape": list(ids.shape),  # one sync a step: fine for a profile
                                     "real_tokens": int((ids != pad).sum()) if pad is not None else ids.numel()})
            model.register_forward_pre_hook(shape, with_kwargs=True)

        def on_step_end(self, args, state, control, **kw):
            if self.prof is not None: self.prof.step()

        def on_train_end(self, args, state, control, **kw):
            if self.prof is None: return
            self.prof.stop()
            r = get_rank(); out.mkdir(parents=True, exist_ok=True)
            raw = out / f"trace-rank{r}.json"
            self.prof.export_chrome_trace(str(raw))
            trace = json.loads(raw.read_text())
            with gzip.open(f"{raw}.gz", "wt") as f: json.dump(trace, f)
            raw.unlink()
            (out / f"summary-rank{r}.json").write_text(json.dumps(summarize(trace), indent=1))
            (out / f"batches-rank{r}.json").write_text(json.dumps(self.batches))
            self.prof = None

    return StepProfile()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile-out"); ap.add_argument("--profile-steps", type=int, nargs=2, default=[10, 3], metavar=("FIRST", "COUNT"))
    ap.add_argument("--summarize", help="print the summary of a trace file (.json or .json.gz)")
    a, rest = ap.parse_known_args()
    if a.summarize:
        opener = gzip.open if a.summarize.endswith(".gz") else open
        with opener(a.summarize, "rt") as f: print(json.dumps(summarize(json.load(f)), indent=1))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    _mark_engine()
    from seqcls.train import main as train_main
    return train_main(rest, callbacks=[profiler_callback(Path(a.profile_out), *a.profile_steps)])


if __name__ == "__main__":
    sys.exit(main())
