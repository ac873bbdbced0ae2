"""Encoder benchmark: MiniLM-L6 on Reuters R8, a plain `transformers.Trainer` baseline (run_classification-style:
fp32, batch 8, lr 5e-5, 3 epochs, padding to 128, unweighted loss) against seqcls's GPU recipe, in one call.

    python bench/bench_encoder.py --model .gpu/minilm --data .gpu/r8-256 --seeds 0 1 2 --variants baseline recipe

Each (variant, seed) runs in its own subprocess (clean GPU memory, no shared distributed state) and appends a JSON
line to --out; the parent prints the table. Throughput = training examples x epochs / train_runtime, with evaluation
and checkpointing switched off during training for every variant; quality is measured once after training on the
R8 test split (2,189 documents)."""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RAW, machine, peak_gib, reset_gpu, table, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "reuters-r8.yml"
# seqcls variants: overrides of configs/reuters-r8.yml (the recipe is "recipe"; the others show where speed comes from)
VARIANTS = {
    "recipe": [],
    "recipe+deepspeed-zero2": ["deepspeed=configs/deepspeed/zero2.json"],
    "fixed-batch64+grouped": ["data.max_tokens_per_batch=null", "training_args.per_device_train_batch_size=64",
                              "training_args.train_sampling_strategy=group_by_length", "training_args.learning_rate=2e-4"],
    "fixed-batch64+grouped+zero2": ["data.max_tokens_per_batch=null", "training_args.per_device_train_batch_size=64",
                                    "training_args.train_sampling_strategy=group_by_length", "training_args.learning_rate=2e-4",
                                    "deepspeed=configs/deepspeed/zero2.json"],
    "recipe+fp32": ["training_args.bf16=false"],
    "recipe+compile": ["training_args.torch_compile=true"],
    "recipe+compile-layers": ["model.compile_layers=true"],
    "recipe+lr2e-4": ["training_args.learning_rate=2e-4"],
    "recipe+lr4e-4": ["training_args.learning_rate=4e-4"],
    "recipe+alpha0.25": ["loss.alpha=0.25"],
    "recipe+meanpool": ["+meanpool"],  # experiment: mean of the real tokens' states -> pooler dense+tanh -> classifier
    "recipe+meanpool-raw": ["+meanpool-raw"],  # experiment: mean of the real tokens' states -> classifier
    "recipe+alpha0.75": ["loss.alpha=0.75"],
    "recipe+alpha1.0": ["loss.alpha=1.0"],
    # the host syncs seqcls's defaults avoid, put back: blocking copies to the GPU, the NaN check of every step's loss
    "recipe-syncs": ["training_args.logging_nan_inf_filter=true", "training_args.accelerator_config={non_blocking: false}"],
    "recipe+tokens8k": ["data.max_tokens_per_batch=8192"],
    "recipe+tokens8k+lr2e-4": ["data.max_tokens_per_batch=8192", "training_args.learning_rate=2e-4"],
    "recipe+tokens32k+lr5e-4": ["data.max_tokens_per_batch=32768", "training_args.learning_rate=5e-4"],
    "recipe-len512": ["data.max_length=512", "data.path={data512}"],
    "recipe-len512+tokens32k+lr5e-4": ["data.max_length=512", "data.path={data512}", "data.max_tokens_per_batch=32768", "training_args.learning_rate=5e-4"],
    "recipe+unweighted": ["loss.class_weights=false"],
    # schedule/loss candidates, chosen between on the validation split (not the test split)
    "recipe+cosine": ["training_args.lr_scheduler_type=cosine"],
    "recipe+lr4e-4+cosine": ["training_args.learning_rate=4e-4", "training_args.lr_scheduler_type=cosine"],
    "recipe+smooth0.1": ["loss.label_smoothing=0.1"],
    "recipe+warmup0.1": ["training_args.warmup_steps=0.1"],
    # one default switched off at a time: what each is worth
    "recipe-unfused-adamw": ["training_args.optim=adamw_torch"],
    "recipe-no-workers": ["training_args.dataloader_num_workers=0", "training_args.dataloader_pin_memory=false"],
    "recipe-no-pad-multiple": ["data.pad_to_multiple_of=null"],
}


def run_baseline(model_dir: str, data_dir: str, seed: int) -> dict:
    "What a user would do instead: run_classification.py's defaults with a plain Trainer (bench_quality.plain_trainer)."
    from bench_quality import plain_trainer
    r = plain_trainer(model_dir, Path(data_dir), seed)
    return {k: r[k] for k in ("val_accuracy", "val_f1_macro", "train_runtime_s", "samples_per_s", "peak_gib", "test_accuracy", "test_f1_macro")} | {"steps": r["train_steps"]}


def mean_pooling(raw: bool):
    "Experiment: pool the mean of the real tokens' states instead of [CLS] (how all-MiniLM-L6-v2 was trained); raw: without the pooler's dense+tanh."
    import torch, seqcls.train as st
    class MeanPool(torch.nn.Module):
        def __init__(self, pooler):
            super().__init__(); self.pooler, self.mask = pooler, None
        def forward(self, h):
            m = self.mask.unsqueeze(-1).to(h.dtype)
            x = (h * m).sum(1) / m.sum(1).clamp(min=1)
            return x if raw else self.pooler.activation(self.pooler.dense(x))
    prepare = st.prepare_model
    def patched(cfg, art):
        model = prepare(cfg, art); base = model.base_model
        pool = base.pooler = MeanPool(base.pooler)
        def stash(mod, args, kw):
            ids = kw.get("input_ids", args[0] if args else None)
            pool.mask = kw["attention_mask"] if kw.get("attention_mask") is not None else torch.ones_like(ids)
        base.register_forward_pre_hook(stash, with_kwargs=True)
        return model
    st.prepare_model = patched


def run_seqcls(model_dir: str, data_dir: str, seed: int, overrides: list[str]) -> dict:
    "seqcls's own training path (seqcls.train.train) on the recipe config."
    from seqcls.config import load_config
    from seqcls.train import train
    if "+meanpool" in overrides or "+meanpool-raw" in overrides:
        mean_pooling(raw="+meanpool-raw" in overrides); overrides = [o for o in overrides if not o.startswith("+meanpool")]
    out_dir = tempfile.mkdtemp()
    sets = [f"model.name_or_path={model_dir}", f"data.path={data_dir}", f"training_args.output_dir={out_dir}/run", f"seed={seed}",
            "tracking.enabled=false", "training_args.eval_strategy=no", "training_args.save_strategy=no",
            "training_args.load_best_model_at_end=false", "budget.early_stopping_patience=null", *overrides]
    cfg = load_config(RECIPE, sets)
    if cfg.deepspeed is not None:  # DeepSpeed in a single process without a launcher needs the rendezvous variables
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + seed))
    reset_gpu()
    m = train(cfg)
    from datasets import load_from_disk
    n_train = min(len(load_from_disk(data_dir)["train"]), cfg.data.max_train_samples or 10**12)
    epochs = m["budget"]["epochs"]  # the budget may train more epochs than the config's num_train_epochs
    return {"train_runtime_s": m["train_runtime"], "samples_per_s": n_train * epochs / m["train_runtime"], "peak_gib": m.get("gpu_mem_peak_gib"),
            "test_accuracy": m["test_accuracy"], "test_f1_macro": m["test_f1_macro"], "steps": None,
            "val_accuracy": m["eval_accuracy"], "val_f1_macro": m["eval_f1_macro"], "epochs": epochs,
            "test_tuned_accuracy": m.get("test_tuned_accuracy"), "test_tuned_f1_macro": m.get("test_tuned_f1_macro")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True); ap.add_argument("--data", required=True)
    ap.add_argument("--data512", default=None, help="the same data prepared with max_length 512 (variants recipe-len512*)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=["baseline", "recipe"])
    ap.add_argument("--baseline-seeds", type=int, nargs="+", default=None, help="seeds for the baseline (default: --seeds)")
    ap.add_argument("--out", default=str(RAW / "encoder.jsonl"))
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        v, seed = a.one[0], int(a.one[1])
        t0 = time.time()
        overrides = [o.replace("{data512}", str(a.data512)) for o in VARIANTS.get(v, [])]
        r = run_baseline(a.model, a.data, seed) if v == "baseline" else run_seqcls(a.model, a.data, seed, overrides)
        write_jsonl(Path(a.out), [{"bench": "encoder", "variant": v, "seed": seed, "overrides": VARIANTS.get(v), "wall_s": time.time() - t0, **r}])
        return
    rows = []
    for v in a.variants:
        for seed in (a.baseline_seeds or a.seeds) if v == "baseline" else a.seeds:
            before = Path(a.out).read_text().splitlines() if Path(a.out).exists() else []
            p = subprocess.run([sys.executable, __file__, "--model", a.model, "--data", a.data, "--data512", str(a.data512), "--out", a.out, "--one", v, str(seed)])
            after = Path(a.out).read_text().splitlines() if Path(a.out).exists() else []
            if p.returncode != 0 or len(after) == len(before):
                rows.append({"variant": v, "seed": seed, "error": f"exit {p.returncode}"}); continue
            rows.append(json.loads(after[-1]))
    base = [r["samples_per_s"] for r in rows if r.get("variant") == "baseline" and "samples_per_s" in r]
    for r in rows:
        if base and "samples_per_s" in r: r["speedup_vs_baseline"] = r["samples_per_s"] / (sum(base) / len(base))
    print(f"\n{machine()}\n")
    print(table(rows, ["variant", "seed", "samples_per_s", "speedup_vs_baseline", "val_accuracy", "val_f1_macro", "test_accuracy", "test_f1_macro",
                       "peak_gib", "train_runtime_s", "error"]))


if __name__ == "__main__":
    main()
