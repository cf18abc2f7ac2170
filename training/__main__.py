"""Command line: ``python -m training {train,calibrate,evaluate} ...``."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
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
    p.add_argument(
        "--train-fraction",
        type=float,
        default=d.train_fraction,
        help="train on the drawings of this nested, deterministic share of the training split "
        "(per category, by index/key_id; validation and test unchanged): a learning curve",
    )
    p.add_argument("--no-stretched", dest="use_stretched", action="store_false")
    p.add_argument("--weights-dtype", choices=["float16", "float32"], default=d.weights_dtype)
    p.add_argument(
        "--arch", choices=["mlp", "cnn"], default=d.arch, help="cnn: a teacher (never shipped)"
    )
    p.add_argument("--init", default=None, help="artifact to start from (fine-tuning)")
    p.add_argument(
        "--teacher",
        default=None,
        help="distill from: a CNN checkpoint (.pt) or comma-separated artifacts (an ensemble)",
    )
    p.add_argument("--distill-alpha", type=float, default=d.distill_alpha)
    p.add_argument("--distill-temperature", type=float, default=d.distill_temperature)
    p.add_argument("--partial-prob", type=float, default=d.partial_prob)
    p.add_argument(
        "--prefix-soft-floor",
        type=float,
        default=d.prefix_soft_floor,
        help="one-hot weight of a prefix's target at time fraction 0 (1 = one-hot, off)",
    )
    p.add_argument(
        "--prefix-soft-full",
        type=float,
        default=d.prefix_soft_full,
        help="time fraction from which a prefix's target is one-hot",
    )
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

    p_cal = sub.add_parser(
        "calibrate",
        help="fit the temperature, the live belief filter and the recognition rule on "
        "validation; write the metadata",
    )
    p_cal.add_argument(
        "--model", type=Path, default=None, help="artifact (.json); default: the shipped one"
    )
    p_cal.add_argument("--max-false", type=float, default=0.01, help="false recognition bound")

    p_eval = sub.add_parser("evaluate", help="evaluate artifacts on the held-out test split")
    p_eval.add_argument(
        "--model", type=Path, default=None, help="artifact (.json); default: the shipped one"
    )
    p_eval.add_argument("--baseline", type=Path, default=None, help="baseline artifact (.json)")
    p_eval.add_argument("--out", type=Path, default=Path("reports"))
    p_eval.add_argument("--threads", type=int, default=2)

    args = parser.parse_args(argv)
    if args.cmd == "train":
        from training.train import TrainConfig, train

        names = {f.name for f in fields(TrainConfig)} - {"extra"}
        values = {k: v for k, v in vars(args).items() if k in names}
        cfg = TrainConfig(**{**values, "hidden": tuple(args.hidden)})
        command = "python -m training " + shlex.join(argv)
        summary = train(cfg, out=args.out, command=command)
        m = summary["metrics"]
        if args.arch == "cnn":
            print(f"teacher test top1 {m['test']['top1']:.4f} top3 {m['test']['top3']:.4f}")
        print(
            f"best epoch {summary['training']['best_epoch']}: val top1 {m['val']['top1']:.4f} "
            f"macro {m['val']['macro_top1']:.4f} stroke {m['val_stroke']['top1']:.4f}"
        )
        print(f"wrote {args.out}")
        return 0
    if args.cmd == "calibrate":
        from training.calibrate import calibrate

        res = calibrate(args.model, args.max_false)
        cal, rec = res["calibration"], res["recognition"]
        print(
            f"temperature {cal['temperature']}: validation ECE "
            f"{cal['validation']['ece_before']:.4f} -> {cal['validation']['ece_after']:.4f}; "
            f"belief {rec['belief']}, rule {rec['rule']} >= {rec['threshold']} "
            f"(candidates: {rec['candidates']})"
        )
        return 0
    if args.cmd == "evaluate":
        from training.evaluate import evaluate

        evaluate(args.model, args.baseline, args.out, threads=args.threads)
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
