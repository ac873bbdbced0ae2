"""Decoder LLM + LoRA benchmark: a Qwen2-architecture classifier with random weights (throughput does not depend on
them) and the MiniLM tokenizer, LoRA r=16 on q/k/v/o/gate/up/down, bf16, Reuters R8 texts up to 512 tokens.

    python bench/bench_decoder.py --tokenizer .gpu/minilm --data .gpu/r8-512 --variants baseline seqcls
    python bench/bench_decoder.py ... --largest 32b 14b 7b          # the largest that trains with checkpointing

baseline: what a user would do with a plain Trainer + PEFT: PEFT's defaults (fp32 adapters, alpha 8, no dropout),
run_classification-style padding of every text to 512, batch 16, the model's own (unweighted) loss.
seqcls: seqcls's stages (load_training_data -> prepare_model -> build_trainer) on a seqcls config.

Each variant runs in its own subprocess. Throughput is measured over optimizer steps [--warmup, --warmup + --steps)
with a CUDA sync at both ends; real tokens are counted from the attention masks of exactly those batches. MFU counts
4 FLOPs per frozen matmul weight and 6 per trainable weight for every real token (attention score FLOPs and the
embedding lookup are not counted), over the bf16 matmul rate measured on the same GPU in the same call."""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RAW, bf16_matmul_peak, machine, peak_gib, reset_gpu, table, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SIZES = {  # Qwen2 shapes (vocab: the MiniLM tokenizer's 30,522)
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4),
    "14b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8),
    "32b": dict(hidden_size=5120, intermediate_size=27648, num_hidden_layers=64, num_attention_heads=40, num_key_value_heads=8),
}
# seqcls variants: config overrides on top of the decoder recipe below
VARIANTS = {
    "seqcls": [],
    "seqcls-batch16-dynamic": ["data.max_tokens_per_batch=null", "training_args.per_device_train_batch_size=16",
                               "training_args.train_sampling_strategy=group_by_length"],
    "seqcls-fp32-adapters": ["lora.adapter_dtype=float32"],
    "seqcls-tokens12k": ["data.max_tokens_per_batch=12288"],
    "seqcls-tokens16k": ["data.max_tokens_per_batch=16384"],
    "seqcls-cudnn-attention": ["+cudnn"],
    "seqcls-compile-layers": ["model.compile_layers=true"],
    "seqcls-compile-layers-16k": ["model.compile_layers=true", "data.max_tokens_per_batch=16384"],
    "seqcls-unfused": ["lora.fused=false"],  # PEFT's own LoRA forward (lora.fused: auto fuses when not compiling)
    "seqcls-compile-layers-unfused": ["model.compile_layers=true", "lora.fused=false"],  # = seqcls-compile-layers since lora.fused: auto
    "seqcls-compile-layers-10k": ["model.compile_layers=true", "data.max_tokens_per_batch=10240"],
    "seqcls-compile-layers-12k": ["model.compile_layers=true", "data.max_tokens_per_batch=12288"],
    "seqcls-compile-layers-11k": ["model.compile_layers=true", "data.max_tokens_per_batch=11264"],
    # the three host syncs per step seqcls now avoids, put back: the padding mask, blocking copies, the NaN check of the loss
    "seqcls-compile-layers-11k-syncs": ["model.compile_layers=true", "data.max_tokens_per_batch=11264", "model.skip_causal_padding_mask=false",
                                        "training_args.logging_nan_inf_filter=true", "training_args.accelerator_config={non_blocking: false}"],
    "seqcls-compile-layers-fused": ["model.compile_layers=true", "lora.fused=true"],
    "seqcls-compile-layers-fused-12k": ["model.compile_layers=true", "lora.fused=true", "data.max_tokens_per_batch=12288"],
    "seqcls-compile-layers-fused-11k": ["model.compile_layers=true", "lora.fused=true", "data.max_tokens_per_batch=11264"],
}


def write_model_config(size: str, num_labels: int, pad_id: int) -> Path:
    from transformers import Qwen2Config
    d = Path(tempfile.mkdtemp()) / f"qwen2-{size}"
    Qwen2Config(vocab_size=30522, max_position_embeddings=4096, tie_word_embeddings=False, pad_token_id=pad_id,
                num_labels=num_labels, **SIZES[size]).save_pretrained(d)
    return d


def recipe(tokenizer: str, data: str, model_dir: Path, out: str) -> str:
    "The seqcls config for the decoder benchmark."
    p = Path(out) / "decoder.yml"
    p.write_text(f"""
seed: 0
model: {{name_or_path: "{model_dir}", tokenizer: "{tokenizer}", random_init: true, dtype: bfloat16, attn_implementation: sdpa}}
data: {{path: "{data}", max_length: 512, eval_split: null, test_split: null, max_tokens_per_batch: 8192}}
lora: {{enabled: true, r: 16, alpha: 32, dropout: 0.0, target_modules: {TARGETS}, adapter_dtype: model}}
training_args: {{output_dir: "{out}/run", bf16: true, learning_rate: 1.0e-4, num_train_epochs: 1, save_strategy: "no",
                 eval_strategy: "no", logging_steps: 1000, report_to: [], disable_tqdm: true, dataloader_num_workers: 2}}
loss: {{class_weights: true, alpha: 0.5}}
tracking: {{enabled: false}}
""")
    return str(p)


class Meter:
    "Counts the real (non-pad) and padded tokens each training forward sees (on the GPU, no per-step sync) and times a window of optimizer steps."
    def __init__(self, warmup: int, steps: int, pad_id: int):
        self.warmup, self.steps, self.pad_id, self.real, self.padded, self.samples = warmup, steps, pad_id, [], [], []
        self.t0 = self.t1 = None

    def attach(self, model):
        def hook(module, args, kwargs):
            if module.training:  # without an attention mask (a causal model padded on the right) the pads are pad ids
                m = kwargs["attention_mask"] if kwargs.get("attention_mask") is not None else kwargs["input_ids"] != self.pad_id
                self.real.append(m.sum()); self.padded.append(m.numel()); self.samples.append(m.shape[0])
        model.register_forward_pre_hook(hook, with_kwargs=True)

    def callback(self):
        import torch
        from transformers import TrainerCallback
        meter = self
        class C(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                if state.global_step == meter.warmup: torch.cuda.synchronize(); meter.t0 = time.perf_counter()
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == meter.warmup + meter.steps:
                    torch.cuda.synchronize(); meter.t1 = time.perf_counter(); control.should_training_stop = True
        return C()

    def result(self) -> dict:
        w = slice(self.warmup, self.warmup + self.steps)  # forward k belongs to optimizer step k+1 (no accumulation)
        real = int(sum(int(x) for x in self.real[w]))
        dt = self.t1 - self.t0
        return {"window_s": dt, "step_ms": 1000 * dt / self.steps, "real_tok_per_s": real / dt,
                "padded_tok_per_s": sum(self.padded[w]) / dt, "samples_per_s": sum(self.samples[w]) / dt,
                "real_tokens_per_step": real / self.steps, "padding_share": 1 - real / sum(self.padded[w])}


def flops_per_token(model) -> dict:
    "4 x frozen + 6 x trainable matmul weights (Linear layers only)."
    import torch
    frozen = trainable = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            for p in (m.weight,):
                if p.requires_grad: trainable += p.numel()
                else: frozen += p.numel()
    return {"frozen_matmul_params": frozen, "trainable_params": trainable, "flops_per_token": 4 * frozen + 6 * trainable}


def run_baseline(tokenizer: str, data: str, size: str, warmup: int, steps: int, batch: int = 16) -> dict:
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, default_data_collator
    tok = AutoTokenizer.from_pretrained(tokenizer)
    ds = load_from_disk(data)["train"]
    ds = ds.map(lambda b: tok(b["text"], padding="max_length", max_length=512, truncation=True), batched=True)
    ds = ds.select_columns(["input_ids", "attention_mask", "label"])
    cfg_dir = write_model_config(size, ds.features["label"].num_classes, tok.pad_token_id)
    from transformers import AutoConfig
    with torch.device("cuda"):
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(cfg_dir), dtype=torch.bfloat16, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=16, target_modules=TARGETS))
    meter = Meter(warmup, steps, tok.pad_token_id)
    meter.attach(model)
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, bf16=True, learning_rate=1e-4,
                             num_train_epochs=1, report_to=[], save_strategy="no", logging_steps=1000, disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=default_data_collator, callbacks=[meter.callback()])
    reset_gpu()
    trainer.train()
    return {**meter.result(), **flops_per_token(model), "peak_gib": peak_gib()}


def seqcls_trainer(tokenizer: str, data: str, size: str, overrides: list[str]):
    "seqcls's stages on the decoder recipe with `overrides`: (trainer, model, tokenizer). Also used by profile_decoder and sync_audit."
    from seqcls.config import load_config
    from seqcls.train import build_trainer, load_training_data, prepare_model
    from seqcls.trainer import build_training_arguments
    from seqcls.tracking import NullTracker
    from datasets import load_from_disk
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tokenizer)
    n_labels = load_from_disk(data)["train"].features["label"].num_classes
    cfg = load_config(recipe(tokenizer, data, write_model_config(size, n_labels, tok.pad_token_id), tempfile.mkdtemp()), overrides)
    art = load_training_data(cfg)
    model = prepare_model(cfg, art)
    return build_trainer(cfg, art, model, build_training_arguments(cfg), NullTracker()), model, tok


def run_seqcls(tokenizer: str, data: str, size: str, warmup: int, steps: int, overrides: list[str]) -> dict:
    trainer, model, tok = seqcls_trainer(tokenizer, data, size, [o for o in overrides if o != "+cudnn"])
    if "+cudnn" in overrides:  # the variant that keeps cuDNN attention, to show what switching it off is worth
        import torch; torch.backends.cuda.enable_cudnn_sdp(True)
    meter = Meter(warmup, steps, tok.pad_token_id)
    meter.attach(trainer.model)
    trainer.add_callback(meter.callback())
    reset_gpu()
    trainer.train()
    return {**meter.result(), **flops_per_token(model), "peak_gib": peak_gib()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True); ap.add_argument("--data", required=True)
    ap.add_argument("--variants", nargs="+", default=["baseline", "seqcls"])
    ap.add_argument("--size", default="1.5b", choices=list(SIZES))
    ap.add_argument("--warmup", type=int, default=8); ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--largest", nargs="*", default=[], help="sizes to try with gradient checkpointing, largest first")
    ap.add_argument("--out", default=str(RAW / "decoder.jsonl"))
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--extra", nargs="*", default=[], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        v, size = a.one
        t0 = time.time()
        if v == "baseline": r = run_baseline(a.tokenizer, a.data, size, a.warmup, a.steps)
        else: r = run_seqcls(a.tokenizer, a.data, size, a.warmup, a.steps, VARIANTS.get(v, []) + a.extra)
        write_jsonl(Path(a.out), [{"bench": "decoder", "variant": v, "size": size, "overrides": VARIANTS.get(v, []) + a.extra,
                                   "wall_s": time.time() - t0, **r}])
        return
    peak = bf16_matmul_peak()
    jobs = [(v, a.size, []) for v in a.variants]
    jobs += [(f"largest-{s}", s, ["model.gradient_checkpointing=true", "data.max_tokens_per_batch=4096"]) for s in a.largest]
    rows, done_largest = [], False
    for v, size, extra in jobs:
        if v.startswith("largest-") and done_largest: continue
        before = len(Path(a.out).read_text().splitlines()) if Path(a.out).exists() else 0
        big = v.startswith("largest-")  # a few steps suffice to show it trains and what it costs
        cmd = [sys.executable, __file__, "--tokenizer", a.tokenizer, "--data", a.data, "--out", a.out, "--warmup", str(3 if big else a.warmup),
               "--steps", str(4 if big else a.steps), "--one", v, size]
        if extra: cmd += ["--extra", *extra]
        p = subprocess.run(cmd)
        lines = Path(a.out).read_text().splitlines() if Path(a.out).exists() else []
        if p.returncode != 0 or len(lines) == before:
            rows.append({"variant": v, "size": size, "error": f"exit {p.returncode}"}); continue
        r = json.loads(lines[-1]); rows.append(r)
        done_largest = done_largest or v.startswith("largest-")
    base = next((r for r in rows if r.get("variant") == "baseline" and "real_tok_per_s" in r), None)
    for r in rows:
        if "real_tok_per_s" not in r: continue
        r["mfu_real"] = r["real_tok_per_s"] * r["flops_per_token"] / (peak * 1e12)
        r["mfu_padded"] = r["padded_tok_per_s"] * r["flops_per_token"] / (peak * 1e12)
        if base: r["real_tok_vs_baseline"] = r["real_tok_per_s"] / base["real_tok_per_s"]
    write_jsonl(Path(a.out), [{"bench": "decoder-summary", "bf16_matmul_tflops": peak, "rows": rows}])
    print(f"\n{machine()}; measured bf16 matmul peak {peak:.0f} TFLOP/s\n")
    print(table(rows, ["variant", "size", "real_tok_per_s", "real_tok_vs_baseline", "padded_tok_per_s", "mfu_real", "mfu_padded",
                       "step_ms", "real_tokens_per_step", "peak_gib", "error"]))


if __name__ == "__main__":
    main()
