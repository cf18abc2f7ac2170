"""Command line: ``python -m training {train,evaluate,bench-raster} ...``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from training.data import vocabulary


def _classes(value: str) -> list[str]:
    if value == "vocab":
        return vocabulary()
    return [c.strip() for c in value.split(",") if c.strip()]


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from training.train import TrainConfig

    d = TrainConfig(classes=[])
    p.add_argument(
        "--classes",
        type=_classes,
        default="vocab",
        help="'vocab' (the 87 game categories) or a comma-separated list",
    )
    p.add_argument("--hidden", type=int, nargs="+", default=list(d.hidden))
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default=d.optimizer)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--samples-per-epoch", type=int, default=d.samples_per_epoch)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument(
        "--workers", type=int, default=d.workers, help="processes for stroke augmentation"
    )
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument(
        "--no-balance",
        dest="balance",
        action="store_false",
        help="sample in proportion to the data instead of equally per class",
    )
    p.add_argument("--no-stroke-aug", dest="stroke_aug", action="store_false")
    p.add_argument("--aug-variants", type=int, default=d.aug_variants)
    p.add_argument("--stroke-frac", type=float, default=d.stroke_frac)
    p.add_argument("--stretched-frac", type=float, default=d.stretched_frac)
    p.add_argument("--stretchify-prob", type=float, default=d.stretchify_prob)
    p.add_argument("--no-image-aug", dest="image_aug", action="store_false")
    p.add_argument(
        "--image-aug-mode",
        choices=["full", "seed"],
        default=d.image_aug_mode,
        help="seed: rotations and flips only (the seed's augmentation)",
    )
    p.add_argument("--rotate-deg", type=float, default=d.rotate_deg)
    p.add_argument("--flip-prob", type=float, default=d.flip_prob)
    p.add_argument("--max-per-class", type=int, default=None)
    p.add_argument("--no-stretched", dest="use_stretched", action="store_false")
    p.add_argument("--weights-dtype", choices=["float16", "float32"], default=d.weights_dtype)
    p.add_argument("--name", default=d.name)
    p.add_argument("--notes", default="")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="artifact path stem, e.g. model/artifacts/doodle-mlp-v1",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_train = sub.add_parser("train", help="train an MLP and write an artifact")
    _add_train_args(p_train)

    p_eval = sub.add_parser("evaluate", help="evaluate artifacts on the held-out test split")
    p_eval.add_argument(
        "--model", type=Path, default=None, help="artifact (.json); default: the shipped one"
    )
    p_eval.add_argument("--baseline", type=Path, default=None, help="baseline artifact (.json)")
    p_eval.add_argument("--out", type=Path, default=Path("reports"))
    p_eval.add_argument("--threads", type=int, default=2)

    p_bench = sub.add_parser("bench-raster", help="time normalize/rasterize/predict")
    p_bench.add_argument("--n", type=int, default=300, help="drawings per category")
    p_bench.add_argument("--repeats", type=int, default=5)

    args = parser.parse_args(argv)
    if args.cmd == "train":
        from training.train import TrainConfig, train

        cfg = TrainConfig(
            classes=args.classes,
            hidden=tuple(args.hidden),
            dropout=args.dropout,
            lr=args.lr,
            weight_decay=args.weight_decay,
            optimizer=args.optimizer,
            epochs=args.epochs,
            batch_size=args.batch_size,
            samples_per_epoch=args.samples_per_epoch,
            seed=args.seed,
            threads=args.threads,
            label_smoothing=args.label_smoothing,
            balance=args.balance,
            stroke_aug=args.stroke_aug,
            aug_variants=args.aug_variants,
            stroke_frac=args.stroke_frac,
            stretched_frac=args.stretched_frac,
            stretchify_prob=args.stretchify_prob,
            image_aug=args.image_aug,
            image_aug_mode=args.image_aug_mode,
            rotate_deg=args.rotate_deg,
            flip_prob=args.flip_prob,
            max_per_class=args.max_per_class,
            use_stretched=args.use_stretched,
            workers=args.workers,
            weights_dtype=args.weights_dtype,
            name=args.name,
            notes=args.notes,
        )
        command = "python -m training " + shlex.join(argv)
        summary = train(cfg, out=args.out, command=command)
        m = summary["metrics"]
        print(
            f"best epoch {summary['training']['best_epoch']}: val top1 {m['val']['top1']:.4f} "
            f"macro {m['val']['macro_top1']:.4f} stroke {m['val_stroke']['top1']:.4f}"
        )
        print(f"wrote {args.out}")
        return 0
    if args.cmd == "evaluate":
        from training.evaluate import evaluate

        evaluate(args.model, args.baseline, args.out, threads=args.threads)
        return 0
    if args.cmd == "bench-raster":
        from model.timing import main as timing_main

        return timing_main(["--n", str(args.n), "--repeats", str(args.repeats)])
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
