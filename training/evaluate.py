"""Held-out evaluation report: ``python -m training evaluate``.

Scores artifacts through the shipped numpy inference path (:class:`model.Classifier`) on
the *test* split (never used for tuning): Google bitmaps plus held-out stroke drawings
rendered by our rasterizer, each drawing once.  Writes ``evaluation.json``,
``evaluation.md`` and PNG plots to the output folder.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from model.artifact import ATTRIBUTION, DEFAULT_ARTIFACT
from model.belief import IDENTITY
from model.classifier import Classifier, load_classifier
from model.raster import RASTER_VERSION, drawings_to_images
from model.recognition import RecognitionRule
from training.augment import partial_drawing
from training.calibrate import calibration_figures, live_sets
from training.corpus import SRC_BITMAP, SRC_STROKE, HeldOut, build_corpus
from training.data import load_categories
from training.live import SETTLE_MS, live_metrics_by_source, smoothed

__all__ = ["FRACTIONS", "evaluate", "score_live", "score_model"]

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def _topk(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    return order[:, 0] == y, (order == y[:, None]).any(axis=1)


def _summary(top1: np.ndarray, top3: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    if len(y) == 0:
        return {"n": 0}
    present = [c for c in range(n_classes) if (y == c).any()]
    return {
        "n": len(y),
        "top1": float(top1.mean()),
        "top3": float(top3.mean()),
        "macro_top1": float(np.mean([top1[y == c].mean() for c in present])),
        "macro_top3": float(np.mean([top3[y == c].mean() for c in present])),
        "classes": len(present),
    }


def score_model(clf: Classifier, test: HeldOut, labels: list[str]) -> dict[str, Any]:
    """All metrics of one classifier on a held-out set (labels must match ``clf.labels``)."""
    if clf.labels != labels:
        raise ValueError("classifier labels differ from the evaluation labels")
    n = len(labels)
    probs = clf.predict_images(test.x)
    pred = probs.argmax(axis=1)
    top1, top3 = _topk(probs, test.y)
    res: dict[str, Any] = {"overall": _summary(top1, top3, test.y, n)}
    for name, s in (("bitmap", SRC_BITMAP), ("stroke", SRC_STROKE)):
        m = test.src == s
        res[name] = _summary(top1[m], top3[m], test.y[m], n)
    res["per_class"] = {
        labels[c]: {
            "n": int((test.y == c).sum()),
            "top1": float(top1[test.y == c].mean()) if (test.y == c).any() else None,
            "top3": float(top3[test.y == c].mean()) if (test.y == c).any() else None,
        }
        for c in range(n)
    }
    conf = np.zeros((n, n), dtype=np.int64)
    np.add.at(conf, (test.y, pred), 1)
    res["confusion"] = conf.tolist()
    # early recognition: first ceil(f * n_strokes) strokes of held-out stroke drawings
    early: dict[str, Any] = {}
    ys = test.stroke_labels
    for f in FRACTIONS:
        imgs = drawings_to_images([partial_drawing(d.drawing, f) for d in test.strokes])
        p = clf.predict_images(imgs)
        t1, t3 = _topk(p, ys)
        early[f"{int(f * 100)}%"] = _summary(t1, t3, ys, n)
    res["early_recognition"] = early
    return res


def score_live(clf: Classifier) -> dict[str, dict[str, Any]]:
    """Live recognition on the test split (the artifact's belief filter, rule and
    temperature, the belief settled after ``SETTLE_MS`` without ink as the server does): raw
    drawings (real timings), simplified ones (synthetic timings) and both; false recognition
    also on the test split of the categories outside the vocabulary. ``live``: the filtered
    belief, as the player sees it; ``live_unfiltered`` (artifacts with a filter): each
    update's own row, with the rule calibrated without the filter."""
    vocab, others = live_sets(clf, ("test",), ("test",))
    out = {
        "live": live_metrics_by_source(
            smoothed(vocab, clf.belief), clf.rule, clf.labels, smoothed(others, clf.belief)
        )
    }
    unfiltered = clf.metadata.get("recognition", {}).get("unfiltered")
    if clf.belief != IDENTITY and unfiltered:
        rule = RecognitionRule.from_json(unfiltered)
        out["live_unfiltered"] = live_metrics_by_source(vocab, rule, clf.labels, others)
    return out


def _score_sparse(clf: Classifier, corpus: Any, classes: list[int]) -> dict[str, Any]:
    """Stretched-only categories have only a handful of stroke drawings (their bitmaps are
    stretched renders, training-only), so the test split holds 0-4 of them: pool every
    held-out stroke drawing (val + test) of those categories for a rough supplementary
    figure.  The val part was only used to pick the best epoch by overall macro accuracy."""
    out: dict[str, Any] = {}
    for c in classes:
        drawings = [
            d.drawing
            for held in (corpus.val, corpus.test)
            for d, y in zip(held.strokes, held.stroke_labels, strict=True)
            if y == c
        ]
        if not drawings:
            out[clf.labels[c]] = {"n": 0}
            continue
        probs = clf.predict(drawings)
        order = np.argsort(-probs, axis=1)[:, :3]
        out[clf.labels[c]] = {
            "n": len(drawings),
            "top1": float((order[:, 0] == c).mean()),
            "top3": float((order == c).any(axis=1).mean()),
        }
    return out


def _plot_learning_curves(runs: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, meta in runs.items():
        hist = meta.get("training", {}).get("history", [])
        if not hist:
            continue
        ep = [h["epoch"] for h in hist]
        axes[0].plot(ep, [h["train_loss"] for h in hist], label=f"{name} train (augmented)")
        axes[0].plot(ep, [h["val_loss"] for h in hist], "--", label=f"{name} val")
        axes[1].plot(ep, [h["train_top1"] for h in hist], label=f"{name} train (augmented)")
        axes[1].plot(ep, [h["val_top1"] for h in hist], "--", label=f"{name} val")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    axes[1].set(xlabel="epoch", ylabel="top-1", title="accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_early(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [int(f * 100) for f in FRACTIONS]
    for name, res in results.items():
        er = res["early_recognition"]
        ax.plot(xs, [er[f"{x}%"]["top1"] for x in xs], "o-", label=f"{name} top-1")
        ax.plot(xs, [er[f"{x}%"]["top3"] for x in xs], "s--", label=f"{name} top-3")
    ax.set(
        xlabel="% of strokes drawn",
        ylabel="accuracy",
        ylim=(0, 1),
        title="early recognition (held-out stroke drawings)",
    )
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_confusion(conf: npt.NDArray[np.int64], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = conf.sum(axis=1, keepdims=True)
    norm = conf / np.maximum(rows, 1)
    fig, ax = plt.subplots(figsize=(16, 15))
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (row-normalized, test)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_per_class(results: dict[str, dict[str, Any]], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(18, 5))
    width = 0.8 / max(1, len(results))
    for i, (name, res) in enumerate(results.items()):
        vals = [res["per_class"][c]["top1"] or 0.0 for c in labels]
        ax.bar(np.arange(len(labels)) + i * width, vals, width, label=name)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=90, fontsize=7)
    ax.set(ylabel="top-1", ylim=(0, 1), title="per-class top-1 (test)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def _ci(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return f"{_fmt(r['rate'])} [{_fmt(lo)}, {_fmt(hi)}]"


def _live_rows(
    res: dict[str, dict[str, Any]], names: list[str]
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(model, belief, set, figures) of every live table row."""
    out = []
    for name in names:
        tau = res[name].get("belief", {}).get("tau_ms", 0.0)
        views = (("live", f"τ = {tau:g} ms" if tau else "none"), ("live_unfiltered", "none"))
        for key, view in views:
            out += [(name, view, part, m) for part, m in res[name].get(key, {}).items()]
    return out


def _live_markdown(res: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    lines = [
        "",
        "## Live recognition (test split, replayed update by update)",
        "",
        "Every held-out stroke drawing of the test split replayed as the server sees it: one "
        "update per 100 ms of the drawing's own time (partial stroke included), each through "
        "`Classifier.predict`, the artifact's recognition rule (`Classifier.recognizes`) with the "
        "prompt = the drawing's category. *raw*: real timings; *simplified*: drawings without "
        "timings, 10 ms per point and 150 ms between strokes. False recognition: the same replay "
        "with every wrong prompt (drawings of the vocabulary), and with every prompt (drawings of "
        "categories outside the vocabulary, test split). 95% intervals: Wilson for rates, "
        "bootstrap over drawings for medians and false recognition. *belief*: the live belief "
        "the rule and the figures apply to: the artifact's filter (`recognition.belief`, a "
        "moving average of log-probabilities with time constant τ, settled on the drawing "
        f"as it is after every pause of {SETTLE_MS:g} ms (the server's `DOODLE_SETTLE_MS`) "
        "and when it stops; the player's view) or, side by side, each update's own "
        "row (`none`) with the rule calibrated without a filter. *recognized* counts the "
        "settled belief too: while drawing or within "
        f"{SETTLE_MS:g} ms of stopping (time to recognition: the settled update's, as the "
        "points are); *while drawing* only the live updates. Top-1 "
        "changes and first guesses are on the live updates of the belief.",
        "",
        "| model | belief | set | rule | n | recognized | while drawing | Google's game "
        "| recognized (Google yes / no) | median time to recognition | as fraction of drawing "
        "| false recognition: wrong prompt "
        "/ other categories | top-1 changes per drawing (mean) | updates |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, view, part, m in _live_rows(res, names):
        rule = m["rule"]
        t, f = m["time_to_recognition_ms"], m["time_to_recognition_fraction"]
        other = m.get("false_recognition_other_categories")
        lines.append(
            f"| {name} | {view} | {part} | {rule['rule']} ≥ {rule['threshold']} | "
            f"{m['recognition']['n']} | {_ci(m['recognition'])} | "
            f"{_ci(m['recognition_live']) if 'recognition_live' in m else '—'} | "
            f"{_ci(m['google_recognition'])} | "
            f"{_fmt(m['recognition_google_recognized']['rate'])} / "
            f"{_fmt(m['recognition_google_unrecognized']['rate'])} | "
            f"{t['median']:.0f} ms [{t['ci95'][0]:.0f}, {t['ci95'][1]:.0f}] | "
            f"{_fmt(f['median'])} | {_ci(m['false_recognition_wrong_prompt'])} / "
            f"{_ci(other) if other else '—'} | "
            f"{m['top1_changes_per_drawing']['mean']:.1f} | {m['updates_per_drawing']:.0f} |"
        )
    lines += [
        "",
        "First guess (top-1 at the first update, and on the whole first stroke): the most "
        "frequent class, its share of drawings, the mean top probability.",
        "",
        "| model | belief | set | first update | first stroke |",
        "|---|---|---|---|---|",
    ]
    for name, view, part, m in _live_rows(res, names):
        cells = [
            f"{g['most_frequent']} {_fmt(g['share'])} (p̄ {g['mean_top_p']:.2f})"
            for g in (m["first_guess"]["first_update"], m["first_guess"]["first_stroke"])
        ]
        lines.append(f"| {name} | {view} | {part} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Calibration on the test split images (temperature from the artifact; 1 = none):",
        "",
        "| model | temperature | NLL before → after | ECE before → after |",
        "|---|---:|---:|---:|",
    ]
    for name in names:
        c = res[name]["calibration_test"]
        lines.append(
            f"| {name} | {res[name]['temperature']} | {c['nll_before']:.3f} → "
            f"{c['nll_after']:.3f} | {_fmt(c['ece_before'])} → {_fmt(c['ece_after'])} |"
        )
    return lines


def _markdown(report: dict[str, Any], labels: list[str]) -> str:
    names = list(report["models"])
    res = {k: report["models"][k]["results"] for k in names}
    lines = [
        "# Doodle Arena classifier: held-out evaluation",
        "",
        f"Generated by `{report['command']}` on {report['generated']}.  Test split only "
        "(never used for tuning): Google bitmaps + held-out stroke drawings (simplified and "
        "raw, each drawing once) rendered with our rasterizer "
        f"(`{RASTER_VERSION}`), scored through the shipped numpy inference path.",
        "",
        "## Overall",
        "",
        "| model | set | n | top-1 | top-3 | macro top-1 | macro top-3 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        for part in ("overall", "bitmap", "stroke"):
            s = res[name][part]
            lines.append(
                f"| {name} | {part} | {s.get('n', 0)} | {_fmt(s.get('top1'))} | "
                f"{_fmt(s.get('top3'))} | {_fmt(s.get('macro_top1'))} | "
                f"{_fmt(s.get('macro_top3'))} |"
            )
    lines += [
        "",
        "*top-1/top-3*: over test drawings; *macro*: mean of per-class accuracies "
        "(every category counts equally; categories differ 100x in size).",
        "",
        "## Early recognition (held-out stroke drawings, first ⌈f·n⌉ strokes, re-normalized)",
        "",
        "| model | "
        + " | ".join(f"{int(f * 100)}% top-1 | {int(f * 100)}% top-3" for f in FRACTIONS)
        + " |",
        "|---|" + "---:|" * (2 * len(FRACTIONS)),
    ]
    for name in names:
        er = res[name]["early_recognition"]
        cells = []
        for f in FRACTIONS:
            s = er[f"{int(f * 100)}%"]
            cells += [_fmt(s.get("top1")), _fmt(s.get("top3"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += _live_markdown(res, names)
    sparse = res[names[0]].get("stretched_only_valtest", {})
    if sparse:
        lines += [
            "",
            "## Stretched-only categories (supplementary: val + test stroke drawings)",
            "",
            "These categories have no Google bitmaps (their bitmap-format data are stretched "
            "renders, used for training only) and only 4-20 stroke drawings, so the test split "
            "holds 0-4 per category; pooled val + test stroke drawings give a rough figure.",
            "",
            "| category | n | " + " | ".join(f"{n} top-1 | {n} top-3" for n in names) + " |",
            "|---|---:|" + "---:|" * (2 * len(names)),
        ]
        for c, v in sparse.items():
            cells = []
            for name in names:
                p = res[name]["stretched_only_valtest"][c]
                cells += [_fmt(p.get("top1")), _fmt(p.get("top3"))]
            lines.append(f"| {c} | {v['n']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "![early recognition](early_recognition.png)",
        "",
        "## Learning curves",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "## Models",
        "",
    ]
    for name in names:
        m = report["models"][name]
        lines.append(
            f"- **{name}**: `{m['artifact']}` — architecture "
            f"`784-{'-'.join(str(h) for h in m['architecture']['hidden'])}-"
            f"{m['architecture']['n_classes']}`, trained with `{m['command']}`"
        )
    lines += [
        "",
        "## Per class (test)",
        "",
        "| category | n | " + " | ".join(f"{n} top-1 | {n} top-3" for n in names) + " |",
        "|---|---:|" + "---:|" * (2 * len(names)),
    ]
    first = names[0]
    for c in labels:
        pc = res[first]["per_class"][c]
        cells = []
        for name in names:
            p = res[name]["per_class"][c]
            cells += [_fmt(p["top1"]), _fmt(p["top3"])]
        lines.append(f"| {c} | {pc['n']} | " + " | ".join(cells) + " |")
    conf = np.asarray(res[first]["confusion"])
    off = conf.copy()
    np.fill_diagonal(off, 0)
    pairs = np.dstack(np.unravel_index(np.argsort(-off, axis=None)[:15], off.shape))[0]
    lines += [
        "",
        f"## Most frequent confusions ({first})",
        "",
        "| true | predicted | count |",
        "|---|---|---:|",
    ]
    for i, j in pairs:
        if off[i, j] > 0:
            lines.append(f"| {labels[i]} | {labels[j]} | {off[i, j]} |")
    lines += [
        "",
        "![confusion matrix](confusion.png)",
        "",
        "![per class](per_class.png)",
        "",
        "## Attribution",
        "",
        ATTRIBUTION,
        "",
    ]
    return "\n".join(lines)


def evaluate(
    model_path: Path | None,
    baseline_path: Path | None,
    out_dir: Path,
    threads: int = 2,
    command: str = "python -m training evaluate",
    update_artifact: bool = True,
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(max(1, threads))
    t0 = time.time()
    model_path = model_path or DEFAULT_ARTIFACT
    models: dict[str, tuple[Path, Classifier]] = {
        "model": (model_path, load_classifier(model_path))
    }
    if baseline_path is not None:
        models["baseline"] = (baseline_path, load_classifier(baseline_path))
    labels = models["model"][1].labels
    corpus = build_corpus(
        labels,
        render_train=False,
        max_per_class=models["model"][1]
        .metadata.get("training", {})
        .get("config", {})
        .get("max_per_class"),
    )
    report: dict[str, Any] = {
        "command": command,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "raster_version": RASTER_VERSION,
        "data_fingerprint": corpus.fingerprint,
        "test_counts": {k: v for k, v in corpus.counts["total"].items() if k.startswith("test")},
        "labels": labels,
        "models": {},
    }
    cats = load_categories()["categories"]
    sparse = [i for i, c in enumerate(labels) if cats.get(c, {}).get("stretched_only")]
    for name, (path, clf) in tqdm(models.items(), desc="scoring", leave=False):
        res = score_model(clf, corpus.test, labels)
        res["stretched_only_valtest"] = _score_sparse(clf, corpus, sparse)
        res.update(score_live(clf))
        res["temperature"] = clf.temperature
        res["belief"] = clf.belief.to_json()
        res["calibration_test"] = calibration_figures(
            clf.logits_from_images(corpus.test.x), corpus.test.y, clf.temperature
        )
        report["models"][name] = {
            "artifact": str(path),
            "architecture": clf.metadata["architecture"],
            "command": clf.metadata.get("training", {}).get("command", ""),
            "data_fingerprint": clf.metadata.get("data", {}).get("fingerprint"),
            "results": res,
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {k: v["results"] for k, v in report["models"].items()}
    _plot_learning_curves(
        {k: c.metadata for k, (_, c) in models.items()}, out_dir / "learning_curves.png"
    )
    _plot_early(results, out_dir / "early_recognition.png")
    _plot_confusion(np.asarray(results["model"]["confusion"]), labels, out_dir / "confusion.png")
    _plot_per_class(results, labels, out_dir / "per_class.png")
    report["elapsed_s"] = round(time.time() - t0, 1)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "evaluation.md").write_text(_markdown(report, labels))
    if update_artifact:
        _store_test_metrics(models["model"][0], results["model"])
        if baseline_path is not None:
            _store_test_metrics(baseline_path, results["baseline"])
    for name, res in results.items():
        o, er = res["overall"], res["early_recognition"]
        print(
            f"{name}: test top1 {o['top1']:.4f} top3 {o['top3']:.4f} macro top1 "
            f"{o['macro_top1']:.4f} macro top3 {o['macro_top3']:.4f}; early top1 "
            + " ".join(f"{k} {v['top1']:.3f}" for k, v in er.items())
        )
    print(f"wrote {out_dir}/evaluation.md")
    return report


def _store_test_metrics(path: Path, res: dict[str, Any]) -> None:
    """Record test metrics in the artifact's metadata (the JSON is not hashed)."""
    json_path = path if path.suffix == ".json" else path.with_suffix(".json")
    meta = json.loads(json_path.read_text())
    meta.setdefault("metrics", {})["test"] = {
        k: res[k]
        for k in ("overall", "bitmap", "stroke", "early_recognition", "live", "live_unfiltered")
        if k in res
    }
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
