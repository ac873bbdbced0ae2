"""Where a decoder LoRA step's time goes: torch.profiler over a few seqcls training steps (after warm-up), the
collator's own time, and GPU-busy vs wall time. Diagnostic only; the numbers that count are bench_decoder.py's.

    python bench/profile_decoder.py --tokenizer .gpu/minilm --data .gpu/r8-512 [--set KEY=VALUE ...]"""
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_decoder as bd


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--tokenizer", required=True); ap.add_argument("--data", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[]); ap.add_argument("--size", default="1.5b"); ap.add_argument("--rows", type=int, default=22)
    a = ap.parse_args()
    import torch
    from transformers import TrainerCallback
    trainer, _, _ = bd.seqcls_trainer(a.tokenizer, a.data, a.size, a.overrides)
    # the collator alone, on the biggest batch
    feats = [trainer.train_dataset.select_columns(["input_ids", "attention_mask", "label"])[i] for i in range(200)]
    t = time.perf_counter(); [trainer.data_collator(feats[:150]) for _ in range(5)]
    print(f"collator: {(time.perf_counter() - t) / 5 * 1000:.1f} ms for 150 examples")
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA],
                                  schedule=torch.profiler.schedule(wait=6, warmup=2, active=4, repeat=1))
    class P(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            prof.step()
            if state.global_step >= 13: control.should_training_stop = True
    trainer.add_callback(P())
    prof.start(); trainer.train(); prof.stop()
    ka = prof.key_averages()
    print(ka.table(sort_by="cuda_time_total", row_limit=a.rows, max_name_column_width=90))
    print(ka.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60))
    print("GPU busy per step = the tables' 'Self CUDA time total' / 4 (the profiled steps)")


if __name__ == "__main__":
    main()
