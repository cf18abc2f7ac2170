"""Training loop for the doodle MLP."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.artifact import save_artifact
from model.network import MLPConfig, build_mlp
from model.raster import RASTER_VERSION
from training.augment import ImageAug, StrokeAug, augment_images
from training.corpus import (
    SRC_BITMAP,
    SRC_STRETCHED,
    SRC_STROKE,
    Corpus,
    augmented_stroke_pool,
    build_corpus,
)
from training.data import REPO_ROOT

__all__ = ["TrainConfig", "evaluate_logits", "train"]

CACHE_DIR = REPO_ROOT / "reports" / "tmp" / "cache"


@dataclass
class TrainConfig:
    classes: list[str]
    hidden: tuple[int, ...] = (1024, 512)
    dropout: float = 0.3
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adam"  # adam (AdamW) | sgd (momentum 0.9, nesterov)
    epochs: int = 20
    batch_size: int = 512
    samples_per_epoch: int = 200_000
    seed: int = 0
    threads: int = 2
    label_smoothing: float = 0.05
    balance: bool = True  # equal sampling mass per class
    stroke_aug: bool = True
    aug_variants: int = 12  # stroke-augmented renders per training stroke drawing
    stroke_frac: float = 0.3  # sampling mass of stroke renders in classes with bitmaps
    stretched_frac: float = 0.1  # sampling mass of stretched renders where they exist
    stretchify_prob: float = 0.08  # mimic stretched style on other sources
    image_aug: bool = True
    image_aug_mode: str = "full"  # full | seed (rotation + flip only, as the seed did)
    rotate_deg: float = 10.0
    flip_prob: float = 0.5
    max_per_class: int | None = None
    use_stretched: bool = True
    workers: int = 2
    weights_dtype: str = "float16"  # storage only; inference computes in float32
    name: str = "doodle-mlp"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def _sampling_weights(
    cfg: TrainConfig,
    y: npt.NDArray[np.int64],
    src: npt.NDArray[np.int8],
    n_classes: int,
    stroke_drawings: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float64]:
    """Per-sample probabilities: equal mass per class split among sources (``balance``), or
    uniform over all training images (the seed's recipe)."""
    if not cfg.balance:
        return np.full(len(y), 1.0 / len(y))
    w = np.zeros(len(y), dtype=np.float64)
    for c in range(n_classes):
        m = y == c
        present = {s: int((m & (src == s)).sum()) for s in (SRC_BITMAP, SRC_STROKE, SRC_STRETCHED)}
        frac = {SRC_BITMAP: 0.0, SRC_STROKE: 0.0, SRC_STRETCHED: 0.0}
        if present[SRC_BITMAP]:
            # few stroke drawings (often ~10): less mass, or their renders repeat too often
            n_draw = int((stroke_drawings == c).sum()) if stroke_drawings is not None else 100
            frac[SRC_STROKE] = cfg.stroke_frac * min(1.0, (n_draw / 100) ** 0.5)
            frac[SRC_STRETCHED] = cfg.stretched_frac if present[SRC_STRETCHED] else 0.0
            frac[SRC_BITMAP] = 1.0 - frac[SRC_STROKE] - frac[SRC_STRETCHED]
        elif present[SRC_STRETCHED] and present[SRC_STROKE]:
            frac[SRC_STROKE] = frac[SRC_STRETCHED] = 0.5
        else:
            frac[SRC_STROKE] = 1.0 if present[SRC_STROKE] else 0.0
            frac[SRC_STRETCHED] = 1.0 if present[SRC_STRETCHED] else 0.0
        for s, n in present.items():
            if n:
                w[m & (src == s)] = frac[s] / n
    return w / w.sum()


@torch.no_grad()
def evaluate_logits(
    model: torch.nn.Module, x: npt.NDArray[np.uint8], batch: int = 4096
) -> np.ndarray:
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch].astype(np.float32) / 255.0)
        outs.append(model(xb).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def accuracy_stats(logits: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, float]:
    if len(y) == 0:
        return {"top1": float("nan"), "top3": float("nan"), "macro_top1": float("nan"), "n": 0}
    order = np.argsort(-logits, axis=1)[:, :3]
    top1 = order[:, 0] == y
    top3 = (order == y[:, None]).any(axis=1)
    per_class = [top1[y == c].mean() for c in range(n_classes) if (y == c).any()]
    per_class3 = [top3[y == c].mean() for c in range(n_classes) if (y == c).any()]
    return {
        "top1": float(top1.mean()),
        "top3": float(top3.mean()),
        "macro_top1": float(np.mean(per_class)),
        "macro_top3": float(np.mean(per_class3)),
        "n": len(y),
    }


def train(
    cfg: TrainConfig,
    out: Path | None = None,
    command: str = "",
    corpus: Corpus | None = None,
    progress: bool = True,
    cache_dir: Path | None = CACHE_DIR,
) -> dict[str, Any]:
    """Train, keep the epoch with the best validation macro top-1, write the artifact to
    ``out`` (a path stem / .json) if given.  Returns a summary with the history."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    t_start = time.time()
    labels = list(cfg.classes)
    if corpus is None:
        corpus = build_corpus(
            labels, max_per_class=cfg.max_per_class, use_stretched=cfg.use_stretched
        )
    n_classes = len(labels)

    x, y, src = corpus.x, corpus.y, corpus.src
    if cfg.stroke_aug and cfg.aug_variants > 0:
        px, py = augmented_stroke_pool(
            corpus,
            cfg.aug_variants,
            StrokeAug(),
            cfg.seed,
            workers=cfg.workers,
            cache_dir=cache_dir,
            progress=progress,
        )
        x = np.concatenate([x, px])
        y = np.concatenate([y, py])
        src = np.concatenate([src, np.full(len(py), SRC_STROKE, dtype=np.int8)])
    weights = _sampling_weights(cfg, y, src, n_classes, corpus.train_stroke_labels)

    arch = MLPConfig(n_classes=n_classes, hidden=tuple(cfg.hidden), dropout=cfg.dropout)
    model = build_mlp(arch)
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=cfg.weight_decay,
        )
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
    steps_per_epoch = max(1, cfg.samples_per_epoch // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total_steps, pct_start=0.15, anneal_strategy="cos"
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_t = torch.from_numpy(x)
    y_t = torch.from_numpy(y)
    src_t = torch.from_numpy(src)
    img_aug = ImageAug(
        rotate_deg=cfg.rotate_deg, flip_prob=cfg.flip_prob, stretchify_prob=cfg.stretchify_prob
    )
    if cfg.image_aug_mode == "seed":
        img_aug = ImageAug(
            rotate_deg=cfg.rotate_deg, flip_prob=cfg.flip_prob, scale=0.0, aspect=0.0, translate=0.0
        )
    stretched_aug = ImageAug(rotate_deg=cfg.rotate_deg, flip_prob=cfg.flip_prob, aspect=0.35)
    stroke_img_aug = ImageAug(
        rotate_deg=0.0,
        scale=0.05,
        aspect=0.0,
        translate=0.5,
        flip_prob=0.0,
        stretchify_prob=cfg.stretchify_prob,
    )

    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"score": -1.0}
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        idx = torch.from_numpy(rng.choice(len(y), size=steps_per_epoch * cfg.batch_size, p=weights))
        tot_loss = tot_correct = tot_n = 0.0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{cfg.epochs}",
            leave=False,
            disable=not progress,
        )
        for step in bar:
            bi = idx[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb = x_t[bi].float() / 255.0
            yb = y_t[bi]
            if cfg.image_aug:
                sb = src_t[bi]
                pairs = (
                    (SRC_BITMAP, img_aug),
                    (SRC_STRETCHED, stretched_aug),
                    (SRC_STROKE, stroke_img_aug),
                )
                if cfg.image_aug_mode == "seed":
                    pairs = ((SRC_BITMAP, img_aug), (SRC_STRETCHED, img_aug), (SRC_STROKE, img_aug))
                for s, aug in pairs:
                    m = sb == s
                    if m.any():
                        xb[m] = augment_images(xb[m], gen, aug)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(yb)
            tot_correct += float((logits.argmax(1) == yb).sum())
            tot_n += len(yb)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}")
        val_logits = evaluate_logits(model, corpus.val.x)
        vy = torch.from_numpy(corpus.val.y)
        val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), vy)) if len(vy) else 0.0
        vs = accuracy_stats(val_logits, corpus.val.y, n_classes)
        stroke_m = corpus.val.src == SRC_STROKE
        vss = accuracy_stats(val_logits[stroke_m], corpus.val.y[stroke_m], n_classes)
        rec = {
            "epoch": epoch,
            "train_loss": tot_loss / tot_n,
            "train_top1": tot_correct / tot_n,
            "val_loss": val_loss,
            "val_top1": vs["top1"],
            "val_top3": vs["top3"],
            "val_macro_top1": vs["macro_top1"],
            "val_stroke_top1": vss["top1"],
            "lr": float(sched.get_last_lr()[0]),
            "elapsed_s": time.time() - t_start,
        }
        history.append(rec)
        if progress:
            tqdm.write(
                f"epoch {epoch:3d} train_loss {rec['train_loss']:.3f} train_top1 "
                f"{rec['train_top1']:.3f} val_loss {val_loss:.3f} val_top1 {vs['top1']:.4f} "
                f"val_macro {vs['macro_top1']:.4f} val_stroke {vss['top1']:.4f}"
            )
        score = vs["macro_top1"]
        if score > best["score"]:
            best = {
                "score": score,
                "epoch": epoch,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "val": vs,
                "val_stroke": vss,
            }

    tensors = {k: v.numpy() for k, v in best["state"].items() if k in arch.tensor_shapes()}
    summary: dict[str, Any] = {
        "labels": labels,
        "architecture": arch.to_json(),
        "raster_version": RASTER_VERSION,
        "training": {
            "command": command,
            "config": cfg.to_json(),
            "best_epoch": best["epoch"],
            "epochs_run": cfg.epochs,
            "wall_time_s": round(time.time() - t_start, 1),
            "torch_version": torch.__version__,
            "history": history,
        },
        "data": {
            "fingerprint": corpus.fingerprint,
            "split": "sha256('<category>/i<index>') % 100: <10 test, <20 val, else train; "
            "stretched renders train-only",
            "counts": corpus.counts["total"],
        },
        "metrics": {"val": best["val"], "val_stroke": best["val_stroke"]},
    }
    if out is not None:
        save_artifact(out, tensors, summary, dtype=cfg.weights_dtype)
    summary["tensors"] = tensors
    return summary
