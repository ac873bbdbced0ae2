"""Where a training process's time goes outside its steps, as a forked training meets it: the zygote's imports first
(seqcls.warm.PRELOAD, each timed), a full garbage collection timed, then `seqcls.train.train` twice under cProfile,
printed as a call tree of everything >= 0.05 s (imports a child still makes show up as importlib frames):

    python bench/profile_startup.py --model MODEL_DIR --data PREPARED [--steps 20] [--freeze] [--set KEY=VALUE ...]

On a GPU machine it trains in bf16. The first pass carries what a fresh child pays (the CUDA context among it)."""
import argparse, cProfile, importlib, os, pstats, sys, tempfile, time
from pathlib import Path

os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # as the zygote: no CUDA context from its imports
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_startup import startup_overrides  # noqa: E402  (the same runs as bench_startup.py measures)


def tree(st: pstats.Stats, root, floor: float = 0.05, depth_max: int = 7) -> None:
    callees = {}
    for fn, (cc, nc, tt, ct, callers) in st.stats.items():
        for caller, v in callers.items(): callees.setdefault(caller, []).append((v[3], fn))
    name = lambda fn: f"{'/'.join(fn[0].split('/')[-2:])}:{fn[1]}({fn[2]})"
    def walk(fn, depth, seen):
        for ct, c in sorted(callees.get(fn, []), reverse=True):
            if ct < floor or c in seen: continue
            print("  " * depth + f"{ct:6.2f} {name(c)}")
            if depth < depth_max: walk(c, depth + 1, seen | {c})
    walk(root, 0, {root})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True); ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=20); ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--freeze", action="store_true", help="gc.freeze() after the imports, as the zygote does before each fork")
    a = ap.parse_args()
    from seqcls.warm import PRELOAD
    t = time.time()
    for m in PRELOAD:
        t1 = time.time()
        try: importlib.import_module(m)
        except ImportError as e: print(f"import {m}: not installed ({e})"); continue
        print(f"import {m}: {time.time() - t1:.2f} s", flush=True)
    import gc, torch
    print(f"imports {time.time() - t:.1f} s; a CUDA context after them: {torch.cuda.is_initialized()}", flush=True)
    t = time.time(); gc.collect(); print(f"gc.collect {time.time() - t:.2f} s over {len(gc.get_objects())} objects", flush=True)
    if a.freeze: gc.freeze()
    from seqcls.config import load_config
    from seqcls.train import train
    sets = startup_overrides(a.model, a.data, a.steps, True, [*(["training_args.bf16=true"] if torch.cuda.is_available() else []), *a.set])
    work = Path(tempfile.mkdtemp(prefix="profile-startup-"))
    for i in range(2):
        cfg = load_config(ROOT / "configs/default.yml", [*sets, f"training_args.output_dir={work}/run{i}"])
        pr = cProfile.Profile(); t = time.time(); pr.enable()
        train(cfg)
        pr.disable(); print(f"== train() pass {i + 1}: {time.time() - t:.2f} s", flush=True)
        st = pstats.Stats(pr)
        tree(st, next(fn for fn in st.stats if fn[0].endswith("seqcls/train.py") and fn[2] == "train"))
        print((work / f"run{i}" / "train.log").read_text()[:1500])


if __name__ == "__main__":
    main()
