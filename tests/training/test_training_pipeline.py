from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from model import load_classifier
from training.__main__ import main as cli_main
from training.augment import ImageAug, StrokeAug, augment_images, partial_drawing, render_augmented
from training.corpus import SRC_STRETCHED, SRC_STROKE, Corpus, build_corpus
from training.data import (
    data_dir,
    load_bitmaps,
    load_stretched,
    load_strokes,
    split_of,
    subset_rank,
    timed_strokes,
    vocabulary,
)
from training.train import TrainConfig, _network, _sampling_weights, prefix_targets, train

CLASSES = ["rainbow", "eye", "bicycle", "penguin"]  # bitmaps+strokes, stroke-rich, stretched


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(CLASSES, max_per_class=250)


def test_data_dir_and_vocabulary() -> None:
    assert (data_dir() / "categories.json").is_file()
    vocab = vocabulary()
    assert len(vocab) == 87 and vocab == sorted(vocab)
    assert {"cat", "penguin", "calculator"} <= set(vocab)


def test_split_is_deterministic_and_shared_across_formats() -> None:
    splits = [split_of("cat", i) for i in range(5000)]
    assert splits == [split_of("cat", i) for i in range(5000)]
    c = Counter(splits)
    assert 0.08 < c["test"] / 5000 < 0.12 and 0.08 < c["val"] / 5000 < 0.12
    # the same index has the same split whatever the format; key_id only without an index
    assert split_of("cat", 7, "123") == split_of("cat", 7) == split_of("cat", 7, "999")
    assert [split_of("dog", i) for i in range(50)] != [split_of("cat", i) for i in range(50)]


def test_corpus_has_no_leakage(corpus: Corpus) -> None:
    assert all(d.split == "train" for d in corpus.train_strokes)
    for held in (corpus.val, corpus.test):
        assert SRC_STRETCHED not in set(held.src.tolist())  # never validate on stretched
        assert all(d.split in ("val", "test") for d in held.strokes)
        keys = [d.key_id for d in held.strokes]
        assert len(keys) == len(set(keys))  # simplified + raw of one drawing counted once
    train_keys = {(d.category, d.key_id) for d in corpus.train_strokes}
    held_keys = {(d.category, d.key_id) for h in (corpus.val, corpus.test) for d in h.strokes}
    assert not train_keys & held_keys
    # stretched renders of held-out stroke drawings are not in the training pool
    for cat in ("penguin",):
        _, key_ids = load_stretched(cat)
        strokes = load_strokes(cat, "simplified") + load_strokes(cat, "raw")
        held = {d.key_id for d in strokes if d.split != "train"}
        n_overlap = int(np.isin(key_ids[:250].astype(str), list(held)).sum())
        kept = corpus.counts["per_class"][cat]["train_stretched"]
        assert kept == min(250, len(key_ids)) - n_overlap


def _train_items(c: Corpus) -> tuple[set[tuple[str, str, str]], Counter[tuple[int, bytes]]]:
    """A corpus's training stroke drawings and its other training images (label, bytes)."""
    strokes = {(d.category, d.source, d.key_id) for d in c.train_strokes}
    m = c.src != SRC_STROKE
    images = Counter(zip(c.y[m].tolist(), (row.tobytes() for row in c.x[m]), strict=True))
    return strokes, images


def test_train_fraction_subsets_are_nested_deterministic_and_leave_heldout_alone(
    corpus: Corpus,
) -> None:
    subsets = {
        f: build_corpus(CLASSES, max_per_class=250, train_fraction=f, render_train=False)
        for f in (0.125, 0.5)
    }
    items = {f: _train_items(c) for f, c in subsets.items()}
    items[1.0] = _train_items(corpus)
    for small, large in ((0.125, 0.5), (0.5, 1.0)):
        assert items[small][0] < items[large][0]  # stroke drawings: strictly nested
        assert not items[small][1] - items[large][1]  # images (multiset): nested
        assert items[small][1].total() < items[large][1].total()
    for f, c in subsets.items():
        # validation and test are those of the whole training split
        for a, b in ((c.val, corpus.val), (c.test, corpus.test)):
            assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
            assert [d.key_id for d in a.strokes] == [d.key_id for d in b.strokes]
        assert all(d.split == "train" for d in c.train_strokes)
        # every format of a drawing is in or out together: the rank of its index
        for d in corpus.train_strokes:
            kept = (d.category, d.source, d.key_id) in items[f][0]
            assert kept == (subset_rank(d.category, d.index, d.key_id) < f)
        for cat in CLASSES:
            rows = load_bitmaps(cat)[1][:250]
            expected = sum(
                split_of(cat, int(r)) == "train" and subset_rank(cat, int(r)) < f for r in rows
            )
            assert c.counts["per_class"][cat].get("train_bitmap", 0) == expected
        n, n_full = items[f][1].total(), items[1.0][1].total()
        assert 0.6 * f < n / n_full < 1.4 * f
    again = build_corpus(CLASSES, max_per_class=250, train_fraction=0.125, render_train=False)
    assert np.array_equal(again.x, subsets[0.125].x) and np.array_equal(again.y, subsets[0.125].y)
    assert again.fingerprint == subsets[0.125].fingerprint != corpus.fingerprint
    # the rank shares the split's key but not its hash: a same-sized share of every split
    ranks = [subset_rank("cat", i) < 0.5 for i in range(4000) if split_of("cat", i) == "train"]
    assert 0.45 < np.mean(ranks) < 0.55
    assert subset_rank("cat", 7, "123") == subset_rank("cat", 7) != subset_rank("cat", 8)
    with pytest.raises(ValueError, match="train_fraction"):
        build_corpus(CLASSES, max_per_class=10, train_fraction=0.0)


def test_sampling_weights_balance_classes(corpus: Corpus) -> None:
    cfg = TrainConfig(classes=CLASSES)
    w = _sampling_weights(cfg, corpus.y, corpus.src, len(CLASSES), corpus.train_stroke_labels)
    mass = np.bincount(corpus.y, weights=w, minlength=len(CLASSES))
    np.testing.assert_allclose(mass, 1.0 / len(CLASSES))
    w_uniform = _sampling_weights(
        TrainConfig(classes=CLASSES, balance=False), corpus.y, corpus.src, len(CLASSES)
    )
    np.testing.assert_allclose(w_uniform, 1.0 / len(corpus.y))


def test_partial_drawing() -> None:
    d = [[[0, 1], [0, 1]]] * 8
    assert len(partial_drawing(d, 0.25)) == 2
    assert len(partial_drawing(d, 0.5)) == 4
    assert len(partial_drawing(d[:3], 0.25)) == 1
    assert len(partial_drawing(d[:3], 1.0)) == 3


def test_stroke_augmentation_is_deterministic(corpus: Corpus) -> None:
    first = corpus.train_strokes[0]
    d = timed_strokes(first.drawing, first.source)
    a, fa = render_augmented(d, 42, 4, StrokeAug())
    b, fb = render_augmented(d, 42, 4, StrokeAug())
    assert a.shape == (4, 784) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert not np.array_equal(a[0], a[1])
    assert fa.shape == (4,) and ((fa >= 0) & (fa <= 1)).all()


def test_image_augmentation_shapes() -> None:
    x = torch.zeros(6, 784)
    x[:, 300:310] = 1.0
    out = augment_images(x, torch.Generator().manual_seed(0), ImageAug(stretchify_prob=0.5))
    assert out.shape == (6, 784)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    assert float(out.sum()) > 0


def test_prefix_targets_soften_short_prefixes() -> None:
    y = torch.tensor([2, 2, 2, 2, 0])
    fraction = torch.tensor([0.0, 0.1, 0.3, 0.6, 1.0])
    t = prefix_targets(y, fraction, 5, label_smoothing=0.05, floor=0.1, full=0.5)
    torch.testing.assert_close(t.sum(dim=1), torch.ones(5))
    assert t.argmax(dim=1).tolist() == y.tolist()  # the drawing's class stays the top target
    top = t.max(dim=1).values
    assert top[0] < top[1] < top[2] < top[3]  # the shorter the prefix, the more uniform
    assert float(top[0]) == pytest.approx(0.095 + 0.905 / 5, abs=1e-6)
    # from ``full`` on (and with floor 1 everywhere) the target is plain label smoothing
    smoothed = torch.full((5,), 0.05 / 5)
    smoothed[0] += 0.95
    torch.testing.assert_close(t[4], smoothed)
    off = prefix_targets(y, fraction, 5, label_smoothing=0.05, floor=1.0)
    torch.testing.assert_close(off[:, [2, 2, 2, 2, 0]].diagonal(), torch.full((5,), 0.96))
    logits = torch.randn(5, 5)
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(logits, off),
        torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.05),
    )


def test_training_with_prefix_soft_targets(corpus: Corpus) -> None:
    quick = dict(epochs=1, samples_per_epoch=1024, aug_variants=1, partial_prob=0.5)
    plain = train(_tiny_cfg(**quick), corpus=corpus, progress=False, cache_dir=None)
    soft = train(
        _tiny_cfg(prefix_soft_floor=0.1, **quick), corpus=corpus, progress=False, cache_dir=None
    )
    # same seed and batches: only the prefixes' targets differ
    assert not np.array_equal(plain["tensors"]["out.weight"], soft["tensors"]["out.weight"])
    assert soft["training"]["config"]["prefix_soft_floor"] == 0.1


def _tiny_cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        classes=CLASSES,
        hidden=(64,),
        dropout=0.1,
        lr=3e-3,
        epochs=3,
        batch_size=128,
        samples_per_epoch=4096,
        seed=7,
        threads=1,
        workers=1,
        aug_variants=1,
        max_per_class=250,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_small_training_run_beats_chance(corpus: Corpus) -> None:
    a = train(_tiny_cfg(), corpus=corpus, progress=False, cache_dir=None)
    val = a["metrics"]["val"]
    assert val["n"] > 50
    assert val["top1"] > 0.75  # chance is 0.25
    assert a["metrics"]["val_stroke"]["top1"] > 0.6
    hist = a["training"]["history"]
    assert len(hist) == 3 and hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_training_is_deterministic(corpus: Corpus) -> None:
    cfg = _tiny_cfg(epochs=1, samples_per_epoch=1024, aug_variants=0)
    a = train(cfg, corpus=corpus, progress=False, cache_dir=None)
    b = train(cfg, corpus=corpus, progress=False, cache_dir=None)
    for k in a["tensors"]:
        assert np.array_equal(a["tensors"][k], b["tensors"][k]), k
    c = train(
        _tiny_cfg(epochs=1, samples_per_epoch=1024, aug_variants=0, seed=8),
        corpus=corpus,
        progress=False,
        cache_dir=None,
    )
    assert not np.array_equal(a["tensors"]["out.weight"], c["tensors"]["out.weight"])


def test_cli_train_then_evaluate(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    rc = cli_main(
        [
            "train",
            "--classes",
            ",".join(CLASSES),
            "--hidden",
            "32",
            "--epochs",
            "1",
            "--samples-per-epoch",
            "2048",
            "--batch-size",
            "256",
            "--max-per-class",
            "120",
            "--train-fraction",
            "0.5",
            "--aug-variants",
            "1",
            "--workers",
            "1",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    clf = load_classifier(out.with_suffix(".json"))
    assert clf.labels == CLASSES
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["training"]["command"].startswith("python -m training train --classes")
    assert meta["training"]["config"]["hidden"] == [32]
    assert meta["training"]["config"]["train_fraction"] == 0.5
    report_dir = tmp_path / "report"
    rc = cli_main(
        [
            "evaluate",
            "--model",
            str(out.with_suffix(".json")),
            "--baseline",
            str(out.with_suffix(".json")),
            "--out",
            str(report_dir),
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    for name in (
        "evaluation.json",
        "evaluation.md",
        "confusion.png",
        "learning_curves.png",
        "early_recognition.png",
        "per_class.png",
    ):
        assert (report_dir / name).stat().st_size > 0, name
    report = json.loads((report_dir / "evaluation.json").read_text())
    res = report["models"]["model"]["results"]
    assert set(res["early_recognition"]) == {"25%", "50%", "75%", "100%"}
    assert res["overall"]["n"] == sum(sum(r) for r in res["confusion"])
    assert res["stroke"]["n"] > 0 and res["bitmap"]["n"] > 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert "test" in meta["metrics"]  # evaluate records test metrics in the metadata
    load_classifier(out.with_suffix(".json"))  # metadata update keeps the artifact valid


def test_teacher_distillation_and_fine_tuning(corpus: Corpus, tmp_path: Path) -> None:
    quick = dict(epochs=1, samples_per_epoch=1024, aug_variants=0)
    teacher = train(
        _tiny_cfg(arch="cnn", **quick), out=tmp_path / "t", corpus=corpus, progress=False
    )
    assert (tmp_path / "t.pt").is_file() and 0 <= teacher["metrics"]["test"]["top1"] <= 1
    plain = train(_tiny_cfg(**quick), out=tmp_path / "p", corpus=corpus, progress=False)
    student = train(
        _tiny_cfg(teacher=str(tmp_path / "t.pt"), **quick), corpus=corpus, progress=False
    )
    # same seed and batches: only the teacher's soft targets differ
    assert not np.array_equal(plain["tensors"]["out.weight"], student["tensors"]["out.weight"])
    # an ensemble of artifacts is a teacher too
    train(
        _tiny_cfg(teacher=f"{tmp_path / 'p.json'},{tmp_path / 't.pt'}", **quick),
        corpus=corpus,
        progress=False,
    )
    # --init starts from an artifact's weights
    net, _ = _network(_tiny_cfg(init=str(tmp_path / "p.json")), len(CLASSES))
    state = net.state_dict()
    for k, v in plain["tensors"].items():
        np.testing.assert_allclose(state[k].numpy(), v.astype(np.float32), rtol=1e-3, atol=1e-3)
