"""Training loop for the doodle MLP (and the CNN teacher it can be distilled from).

``train`` = build the sampling pool (:func:`_pool`), the network (:func:`_network`), the
optimizer (:func:`_optimizer`) and, to distill, the teacher's soft targets
(:func:`teacher_targets`); then epochs of :func:`_train_epoch`, each scored on validation
(:func:`_validate`), keeping the best; the result goes to an artifact (MLP) or a teacher
checkpoint (CNN, never shipped) with :func:`_summary`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.artifact import load_artifact, save_artifact
from model.classifier import load_classifier
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
from training.teacher import build_cnn, load_teacher

__all__ = ["TrainConfig", "evaluate_logits", "prefix_targets", "train"]

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
    train_fraction: float = 1.0  # nested training subsets (learning curve), see build_corpus
    use_stretched: bool = True
    workers: int = 2
    weights_dtype: str = "float16"  # storage only; inference computes in float32
    arch: str = "mlp"  # mlp (shipped) | cnn (a teacher, never shipped)
    init: str | None = None  # artifact whose weights to start from (fine-tuning)
    teacher: str | None = None  # teacher checkpoint (.pt) to distill from
    distill_alpha: float = 0.5  # weight of the teacher's soft targets in the loss
    distill_temperature: float = 2.0
    partial_prob: float = 0.35  # share of stroke renders cut at a random time (live prefixes)
    # soft targets for prefixes (:func:`prefix_targets`): 1.0 = off (one-hot for every prefix)
    prefix_soft_floor: float = 1.0  # weight of the one-hot part for an empty prefix
    prefix_soft_full: float = 0.5  # time fraction from which the target is one-hot again
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


def _pool(
    cfg: TrainConfig, corpus: Corpus, cache_dir: Path | None, progress: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training images, labels, sources (stroke-augmented renders added), sampling
    probabilities and the fraction of its drawing's time each image covers (1 unless a
    prefix)."""
    x, y, src = corpus.x, corpus.y, corpus.src
    fraction = np.ones(len(y), dtype=np.float32)
    if cfg.stroke_aug and cfg.aug_variants > 0:
        px, py, pf = augmented_stroke_pool(
            corpus,
            cfg.aug_variants,
            StrokeAug(partial_prob=cfg.partial_prob),
            cfg.seed,
            workers=cfg.workers,
            cache_dir=cache_dir,
            progress=progress,
        )
        x = np.concatenate([x, px])
        y = np.concatenate([y, py])
        src = np.concatenate([src, np.full(len(py), SRC_STROKE, dtype=np.int8)])
        fraction = np.concatenate([fraction, pf])
    weights = _sampling_weights(cfg, y, src, len(corpus.labels), corpus.train_stroke_labels)
    return x, y, src, weights, fraction


def prefix_targets(
    y: torch.Tensor,
    fraction: torch.Tensor,
    n_classes: int,
    label_smoothing: float = 0.0,
    floor: float = 1.0,
    full: float = 0.5,
) -> torch.Tensor:
    """Soft targets (B, n_classes) for images covering ``fraction`` of their drawing's time:
    ``a * onehot + (1 - a) * uniform`` with ``a = floor + (1 - floor) * min(1, fraction /
    full)`` (a prefix too short to tell is near-uniform, the whole drawing one-hot), then the
    usual label smoothing.  Each row sums to 1 and keeps ``y`` as its argmax."""
    a = floor + (1.0 - floor) * torch.clamp(fraction.float() / full, max=1.0)
    a = a * (1.0 - label_smoothing)
    target = ((1.0 - a) / n_classes)[:, None].expand(-1, n_classes).clone()
    target[torch.arange(len(y)), y] += a
    return target


def _network(cfg: TrainConfig, n_classes: int) -> tuple[torch.nn.Module, MLPConfig | None]:
    """The network to train (and its artifact architecture for an MLP); ``init`` loads an
    artifact's weights into it."""
    if cfg.arch == "cnn":
        return build_cnn(n_classes), None
    arch = MLPConfig(n_classes=n_classes, hidden=tuple(cfg.hidden), dropout=cfg.dropout)
    model = build_mlp(arch)
    if cfg.init:
        tensors, _, init_arch = load_artifact(cfg.init)
        if init_arch.hidden != arch.hidden or init_arch.n_classes != n_classes:
            raise ValueError(f"--init {cfg.init} has another architecture")
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=False)
    return model, arch


def _optimizer(
    cfg: TrainConfig, model: torch.nn.Module, total_steps: int
) -> tuple[torch.optim.Optimizer, Any]:
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
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total_steps, pct_start=0.15, anneal_strategy="cos"
    )
    return opt, sched


def _image_augmenters(cfg: TrainConfig) -> tuple[tuple[int, ImageAug], ...]:
    """Per source, the image augmentation of its training samples."""
    if cfg.image_aug_mode == "seed":
        aug = ImageAug(
            rotate_deg=cfg.rotate_deg, flip_prob=cfg.flip_prob, scale=0.0, aspect=0.0, translate=0.0
        )
        return ((SRC_BITMAP, aug), (SRC_STRETCHED, aug), (SRC_STROKE, aug))
    return (
        (
            SRC_BITMAP,
            ImageAug(
                rotate_deg=cfg.rotate_deg,
                flip_prob=cfg.flip_prob,
                stretchify_prob=cfg.stretchify_prob,
            ),
        ),
        (
            SRC_STRETCHED,
            ImageAug(rotate_deg=cfg.rotate_deg, flip_prob=cfg.flip_prob, aspect=0.35),
        ),
        (
            SRC_STROKE,
            ImageAug(
                rotate_deg=0.0,
                scale=0.05,
                aspect=0.0,
                translate=0.5,
                flip_prob=0.0,
                stretchify_prob=cfg.stretchify_prob,
            ),
        ),
    )


def teacher_targets(
    cfg: TrainConfig, x: npt.NDArray[np.uint8], labels: list[str]
) -> torch.Tensor | None:
    """The teacher's softened probabilities (temperature ``distill_temperature``) for every
    training image (offline distillation: the student sees augmented versions of them).
    ``teacher``: a CNN checkpoint (``.pt``) or comma-separated models whose softened
    probabilities are averaged (an ensemble; MLP artifacts are read as artifacts)."""
    if not cfg.teacher:
        return None
    t = cfg.distill_temperature
    probs = []
    for path in cfg.teacher.split(","):
        if path.endswith(".pt"):
            teacher, teacher_labels = load_teacher(Path(path))
            logits = torch.from_numpy(evaluate_logits(teacher, x))
        else:  # an MLP artifact, as a member of an ensemble
            clf = load_classifier(path)
            teacher_labels = clf.labels
            logits = torch.cat(
                [
                    torch.from_numpy(clf.logits_from_images(x[i : i + 8192]))
                    for i in range(0, len(x), 8192)
                ]
            )
        if teacher_labels != labels:
            raise ValueError(f"the teacher {path} was trained on other labels")
        probs.append(torch.softmax(logits / t, dim=1))
    return torch.stack(probs).mean(dim=0).half()


def _train_epoch(
    cfg: TrainConfig,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None],
    idx: torch.Tensor,
    gen: torch.Generator,
    desc: str,
    progress: bool,
) -> tuple[float, float]:
    """One epoch over the sampled indices ``idx``; returns (mean loss, top-1) on the
    augmented training batches."""
    x_t, y_t, src_t, frac_t, soft_t = data
    augmenters = _image_augmenters(cfg)
    model.train()
    steps = len(idx) // cfg.batch_size
    tot_loss = tot_correct = tot_n = 0.0
    bar = tqdm(range(steps), desc=desc, leave=False, disable=not progress)
    for step in bar:
        bi = idx[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        xb = x_t[bi].float() / 255.0
        yb = y_t[bi]
        if cfg.image_aug:
            sb = src_t[bi]
            for s, aug in augmenters:
                m = sb == s
                if m.any():
                    xb[m] = augment_images(xb[m], gen, aug)
        logits = model(xb)
        if cfg.prefix_soft_floor < 1.0:
            target = prefix_targets(
                yb,
                frac_t[bi],
                logits.shape[1],
                cfg.label_smoothing,
                cfg.prefix_soft_floor,
                cfg.prefix_soft_full,
            )
            loss = F.cross_entropy(logits, target)
        else:
            loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
        if soft_t is not None:
            t = cfg.distill_temperature
            kd = F.kl_div(
                F.log_softmax(logits / t, dim=1), soft_t[bi].float(), reduction="batchmean"
            )
            loss = (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * t * t * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        tot_loss += float(loss.detach()) * len(yb)
        tot_correct += float((logits.argmax(1) == yb).sum())
        tot_n += len(yb)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}")
    return tot_loss / tot_n, tot_correct / tot_n


def _validate(model: torch.nn.Module, corpus: Corpus) -> dict[str, Any]:
    """Validation loss and accuracy (all images, and stroke renders only)."""
    n_classes = len(corpus.labels)
    val_logits = evaluate_logits(model, corpus.val.x)
    vy = torch.from_numpy(corpus.val.y)
    val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), vy)) if len(vy) else 0.0
    stroke_m = corpus.val.src == SRC_STROKE
    return {
        "loss": val_loss,
        "val": accuracy_stats(val_logits, corpus.val.y, n_classes),
        "val_stroke": accuracy_stats(val_logits[stroke_m], corpus.val.y[stroke_m], n_classes),
    }


def train(
    cfg: TrainConfig,
    out: Path | None = None,
    command: str = "",
    corpus: Corpus | None = None,
    progress: bool = True,
    cache_dir: Path | None = CACHE_DIR,
) -> dict[str, Any]:
    """Train, keep the epoch with the best validation macro top-1, write the artifact (or,
    for a CNN teacher, the checkpoint ``<out>.pt``) to ``out`` if given.  Returns a summary
    with the history."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    t_start = time.time()
    labels = list(cfg.classes)
    if corpus is None:
        corpus = build_corpus(
            labels,
            max_per_class=cfg.max_per_class,
            use_stretched=cfg.use_stretched,
            train_fraction=cfg.train_fraction,
        )
    x, y, src, weights, fraction = _pool(cfg, corpus, cache_dir, progress)
    model, arch = _network(cfg, len(labels))
    steps_per_epoch = max(1, cfg.samples_per_epoch // cfg.batch_size)
    opt, sched = _optimizer(cfg, model, steps_per_epoch * cfg.epochs)
    data = (
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(src),
        torch.from_numpy(fraction),
        teacher_targets(cfg, x, labels),
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"score": -1.0}
    for epoch in range(1, cfg.epochs + 1):
        idx = torch.from_numpy(rng.choice(len(y), size=steps_per_epoch * cfg.batch_size, p=weights))
        desc = f"epoch {epoch}/{cfg.epochs}"
        train_loss, train_top1 = _train_epoch(
            cfg, model, opt, sched, data, idx, gen, desc, progress
        )
        v = _validate(model, corpus)
        rec = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_top1": train_top1,
            "val_loss": v["loss"],
            **{f"val_{k}": v["val"][k] for k in ("top1", "top3", "macro_top1")},
            "val_stroke_top1": v["val_stroke"]["top1"],
            "lr": float(sched.get_last_lr()[0]),
            "elapsed_s": time.time() - t_start,
        }
        history.append(rec)
        if progress:
            tqdm.write(
                " ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items()
                )
            )
        if v["val"]["macro_top1"] > best["score"]:
            best = {
                "score": v["val"]["macro_top1"],
                "epoch": epoch,
                "state": {k: t.detach().clone() for k, t in model.state_dict().items()},
                "val": v["val"],
                "val_stroke": v["val_stroke"],
            }
    summary = _summary(cfg, corpus, arch, best, history, command, time.time() - t_start)
    if arch is None:  # a teacher: checkpoint and its test accuracy, never an artifact
        model.load_state_dict(best["state"])
        summary["metrics"].update(_test_accuracy(model, corpus))
        if out is not None:
            torch.save({"labels": labels, "state": best["state"]}, Path(out).with_suffix(".pt"))
            Path(out).with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
        return summary
    tensors = {k: v.numpy() for k, v in best["state"].items() if k in arch.tensor_shapes()}
    if out is not None:
        save_artifact(out, tensors, summary, dtype=cfg.weights_dtype)
    summary["tensors"] = tensors
    return summary


def _test_accuracy(model: torch.nn.Module, corpus: Corpus) -> dict[str, Any]:
    """Test-split accuracy of a torch model (all images, and stroke renders only)."""
    logits = evaluate_logits(model, corpus.test.x)
    m = corpus.test.src == SRC_STROKE
    n = len(corpus.labels)
    return {
        "test": accuracy_stats(logits, corpus.test.y, n),
        "test_stroke": accuracy_stats(logits[m], corpus.test.y[m], n),
    }


def _summary(
    cfg: TrainConfig,
    corpus: Corpus,
    arch: MLPConfig | None,
    best: dict[str, Any],
    history: list[dict[str, float]],
    command: str,
    wall_s: float,
) -> dict[str, Any]:
    """The artifact's metadata (without weights-derived fields)."""
    return {
        "labels": list(corpus.labels),
        "architecture": arch.to_json() if arch is not None else {"kind": "cnn"},
        "raster_version": RASTER_VERSION,
        "training": {
            "command": command,
            "config": cfg.to_json(),
            "best_epoch": best["epoch"],
            "epochs_run": cfg.epochs,
            "wall_time_s": round(wall_s, 1),
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
