"""Where a training step waits for the GPU: runs a few seqcls decoder steps (bench_decoder's recipe) under
`torch.cuda.set_sync_debug_mode("warn")` and prints every distinct call site of a synchronizing CUDA operation, with
how often it fired. Diagnostic only (a sync drains the GPU's queue: the CPU must then get ahead again).

    python bench/sync_audit.py --tokenizer .gpu/minilm --data .gpu/r8-512 [--set KEY=VALUE ...]"""
import argparse, collections, sys, traceback, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_decoder as bd


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--tokenizer", required=True); ap.add_argument("--data", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[]); ap.add_argument("--size", default="1.5b")
    ap.add_argument("--first", type=int, default=4); ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    import torch
    from transformers import TrainerCallback
    trainer, _, _ = bd.seqcls_trainer(a.tokenizer, a.data, a.size, a.overrides)
    sites = collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchronizing CUDA operation" not in str(message): return
        stack = [f for f in traceback.extract_stack()[:-1] if "/warnings.py" not in f.filename]
        frames = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[-6:]]
        sites[" <- ".join(reversed(frames))] += 1
    warnings.showwarning = record
    warnings.simplefilter("always")

    class Audit(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == a.first: torch.cuda.set_sync_debug_mode("warn")
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == a.first + a.steps: torch.cuda.set_sync_debug_mode(0); control.should_training_stop = True
    trainer.add_callback(Audit())
    trainer.train()
    print(f"\nsynchronizing CUDA operations over {a.steps} steps ({sum(sites.values())} in all; overrides {a.overrides}):")
    for site, n in sites.most_common(): print(f"{n:5d}  {site}")


if __name__ == "__main__":
    main()
