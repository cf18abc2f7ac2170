from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_test_helpers import read_ndjson

import model
from model import (
    DEFAULT_ARTIFACT,
    RASTER_VERSION,
    ArtifactError,
    Classifier,
    drawing_to_image,
    load_classifier,
)
from model.artifact import sha256_file
from model.belief import IDENTITY, BeliefFilter
from model.network import MLPConfig
from model.recognition import RULE_KINDS, RecognitionRule
from training.data import split_of, vocabulary


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return load_classifier()


@pytest.fixture
def artifact_copy(tmp_path: Path) -> Path:
    for suffix in (".json", ".safetensors"):
        shutil.copy(DEFAULT_ARTIFACT.with_suffix(suffix), tmp_path / f"a{suffix}")
    return tmp_path / "a.json"


def test_public_api_exports() -> None:
    for name in (
        "load_classifier",
        "normalize",
        "rasterize",
        "ArtifactError",
        "RASTER_VERSION",
        "drawing_to_image",
        "drawings_to_images",
    ):
        assert name in model.__all__ and hasattr(model, name)


def test_shipped_artifact_metadata(clf: Classifier) -> None:
    meta = json.loads(DEFAULT_ARTIFACT.read_text())
    assert clf.labels == meta["labels"] == vocabulary()
    assert len(clf.labels) == 87
    assert meta["raster_version"] == RASTER_VERSION
    assert meta["weights_sha256"] == sha256_file(DEFAULT_ARTIFACT.with_suffix(".safetensors"))
    assert "CC BY 4.0" in meta["attribution"] and "Google" in meta["attribution"]
    assert meta["training"]["command"].startswith("python -m training train")
    assert meta["data"]["fingerprint"]
    assert 0 < meta["metrics"]["val"]["top1"] <= 1
    cfg = MLPConfig.from_json(meta["architecture"])
    assert cfg.n_classes == 87 and cfg.n_inputs == 784
    size = DEFAULT_ARTIFACT.with_suffix(".safetensors").stat().st_size
    assert size < 8 * 2**20
    # calibrated with the weights: the recognition rule, its threshold, the temperature
    rec, cal = meta["recognition"], meta["calibration"]
    assert rec["rule"] in RULE_KINDS and 0 < rec["threshold"] <= 1
    assert rec["max_false_recognition"] == 0.01 and rec["calibrated_on"]
    assert clf.rule == RecognitionRule(rec["rule"], rec["threshold"])
    # ... and the live belief's filter, calibrated together with the rule
    assert clf.belief == BeliefFilter.from_json(rec["belief"]) and clf.belief.tau_ms > 0
    assert clf.new_belief().params == clf.belief
    assert clf.temperature == cal["temperature"] > 0
    v = cal["validation"]
    assert v["ece_after"] < v["ece_before"] and v["nll_after"] <= v["nll_before"]


def test_recognition_rule_both_sides_of_the_threshold(clf: Classifier) -> None:
    n, cat = len(clf.labels), clf.labels.index("cat")
    t = clf.rule.threshold

    def row(p: float) -> np.ndarray:
        r = np.full(n, (1 - p) / (n - 1), np.float32)
        r[cat] = p
        return r

    assert clf.recognizes(row(t + 0.01), "cat")
    assert not clf.recognizes(row(t - 0.01), "cat")
    assert not clf.recognizes(row(t + 0.01), "dog")  # a wrong prompt
    assert not clf.recognizes(row(t + 0.01), "not a label")
    with pytest.raises(ValueError):
        clf.recognizes(np.stack([row(0.9), row(0.9)]), "cat")  # one row only


def test_recognition_rule_kinds() -> None:
    p = np.array([0.5, 0.4, 0.1])
    assert RecognitionRule("target", 0.35).accepts(p, 1)  # above threshold, not the top guess
    assert not RecognitionRule("top1", 0.35).accepts(p, 1)
    assert RecognitionRule("top1", 0.35).accepts(p, 0)
    assert not RecognitionRule("target", 0.35).accepts(p, 2)


def test_calibration_keeps_the_argmax(clf: Classifier, qd_dir: Path, artifact_copy: Path) -> None:
    assert clf.temperature != 1.0
    meta = json.loads(artifact_copy.read_text())
    del meta["calibration"]
    artifact_copy.write_text(json.dumps(meta))
    plain = load_classifier(artifact_copy)
    assert plain.temperature == 1.0
    drawings = [r["drawing"] for r in read_ndjson(qd_dir / "raw" / "cat.ndjson", limit=20)]
    a, b = clf.predict(drawings), plain.predict(drawings)
    assert np.array_equal(a.argmax(axis=1), b.argmax(axis=1))
    assert not np.allclose(a, b)  # the probabilities did change


def test_predict_shapes_and_probabilities(clf: Classifier, qd_dir: Path) -> None:
    drawings = [r["drawing"] for r in read_ndjson(qd_dir / "raw" / "cat.ndjson", limit=5)]
    drawings += [r["drawing"] for r in read_ndjson(qd_dir / "simplified" / "map.ndjson", limit=5)]
    probs = clf.predict(drawings)
    assert probs.shape == (10, len(clf.labels))
    assert probs.dtype == np.float32
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert clf.predict([]).shape == (0, len(clf.labels))


def test_empty_drawings_get_uniform_probabilities(clf: Classifier) -> None:
    probs = clf.predict([[], [[[], []]], [[[float("nan")], [0.0]]]])
    np.testing.assert_allclose(probs, 1.0 / len(clf.labels))
    blank = clf.predict_images(np.zeros((2, 28, 28), np.uint8))
    np.testing.assert_allclose(blank, 1.0 / len(clf.labels))


def test_predict_equals_predict_images(clf: Classifier, qd_dir: Path) -> None:
    drawings = [r["drawing"] for r in read_ndjson(qd_dir / "raw" / "bicycle.ndjson", limit=8)]
    imgs = np.stack([drawing_to_image(d) for d in drawings])
    a = clf.predict(drawings)
    b = clf.predict_images(imgs)
    c = clf.predict_images(imgs.reshape(8, 784))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, c)
    # batching does not change a row
    np.testing.assert_allclose(clf.predict_images(imgs[3:4])[0], b[3], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError):
        clf.predict_images(imgs[0])


def test_numpy_forward_matches_torch(clf: Classifier, qd_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from model.network import build_mlp

    net = build_mlp(clf.config)
    net.load_state_dict(load_file(str(DEFAULT_ARTIFACT.with_suffix(".safetensors"))), strict=False)
    net.eval()
    drawings = [r["drawing"] for r in read_ndjson(qd_dir / "raw" / "eye.ndjson", limit=6)]
    imgs = np.stack([drawing_to_image(d) for d in drawings]).reshape(6, 784)
    with torch.no_grad():
        logits = net(torch.from_numpy(imgs.astype(np.float32) / 255.0)) / clf.temperature
        ref = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(clf.predict_images(imgs), ref, rtol=1e-3, atol=1e-5)


def test_top_k(clf: Classifier) -> None:
    p = np.zeros((1, len(clf.labels)), np.float32)
    p[0, 5], p[0, 2], p[0, 9] = 0.5, 0.3, 0.2
    assert clf.top_k(p, 2) == [[(clf.labels[5], 0.5), (clf.labels[2], pytest.approx(0.3))]]


def test_shipped_model_recognizes_held_out_drawings(clf: Classifier, qd_dir: Path) -> None:
    """Sanity: test-split stroke drawings of stroke-rich categories, far above chance."""
    drawings: list[Any] = []
    labels: list[int] = []
    for cat in ("cat", "airplane", "bicycle", "eye", "map", "television", "guitar", "camera"):
        for rec in read_ndjson(qd_dir / "simplified" / f"{cat}.ndjson"):
            if split_of(cat, rec["index"]) == "test":
                drawings.append(rec["drawing"])
                labels.append(clf.labels.index(cat))
    probs = clf.predict(drawings)
    top3 = (np.argsort(-probs, axis=1)[:, :3] == np.array(labels)[:, None]).any(axis=1)
    assert len(drawings) >= 200
    assert top3.mean() > 0.5  # chance is 3/87


# ----------------------------------------------------------------------------- integrity


def test_tampered_weights_refused(artifact_copy: Path) -> None:
    w = artifact_copy.with_suffix(".safetensors")
    data = bytearray(w.read_bytes())
    data[-5] ^= 0x01
    w.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_classifier(artifact_copy)


def test_tampered_metadata_refused(artifact_copy: Path) -> None:
    meta = json.loads(artifact_copy.read_text())
    meta["labels"] = meta["labels"][:-1]
    artifact_copy.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="labels"):
        load_classifier(artifact_copy)


def test_wrong_architecture_refused(artifact_copy: Path) -> None:
    meta = json.loads(artifact_copy.read_text())
    meta["architecture"]["hidden"] = [h + 1 for h in meta["architecture"]["hidden"]]
    artifact_copy.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="architecture"):
        load_classifier(artifact_copy)


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("recognition", {"rule": "nearest", "threshold": 0.5}),
        ("recognition", {"rule": "target", "threshold": 0.0}),
        ("recognition", {"rule": "target"}),
        ("recognition", {"rule": "target", "threshold": 0.5, "belief": {"filter": "kalman"}}),
        ("recognition", {"rule": "target", "threshold": 0.5, "belief": {"filter": "log_ema"}}),
        (
            "recognition",
            {"rule": "target", "threshold": 0.5, "belief": {"filter": "log_ema", "tau_ms": -1}},
        ),
        ("calibration", {"temperature": -1.0}),
        ("calibration", {"temperature": "hot"}),
    ],
)
def test_bad_calibration_metadata_refused(artifact_copy: Path, section: str, value: Any) -> None:
    meta = json.loads(artifact_copy.read_text())
    meta[section] = value
    artifact_copy.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError):
        load_classifier(artifact_copy)


def test_belief_metadata_round_trip(artifact_copy: Path) -> None:
    meta = json.loads(artifact_copy.read_text())
    meta["recognition"]["belief"] = BeliefFilter(250.0).to_json()
    artifact_copy.write_text(json.dumps(meta))
    assert load_classifier(artifact_copy).belief == BeliefFilter(250.0)
    # an artifact calibrated before the filter existed: the identity (each row as it is)
    del meta["recognition"]["belief"]
    artifact_copy.write_text(json.dumps(meta))
    assert load_classifier(artifact_copy).belief == IDENTITY
    del meta["recognition"]
    artifact_copy.write_text(json.dumps(meta))
    assert load_classifier(artifact_copy).belief == IDENTITY


def test_other_rasterizer_refused(artifact_copy: Path) -> None:
    meta = json.loads(artifact_copy.read_text())
    meta["raster_version"] = "something-else"
    artifact_copy.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="rasterizer"):
        load_classifier(artifact_copy)


def test_missing_files_refused(tmp_path: Path, artifact_copy: Path) -> None:
    with pytest.raises(ArtifactError):
        load_classifier(tmp_path / "nope.json")
    artifact_copy.with_suffix(".safetensors").unlink()
    with pytest.raises(ArtifactError, match="not found"):
        load_classifier(artifact_copy)
    artifact_copy.write_text("{not json")
    with pytest.raises(ArtifactError):
        load_classifier(artifact_copy)


def test_load_by_any_path_form(artifact_copy: Path) -> None:
    a = load_classifier(artifact_copy)
    b = load_classifier(artifact_copy.with_suffix(".safetensors"))
    c = load_classifier(artifact_copy.with_suffix(""))
    assert a.labels == b.labels == c.labels
