"""Data preparation: tasks, label modes, deterministic split, errors, S3 channels (moto)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vigil.toxicity.data import DataError, class_weights_from, main, prepare, split_of
from vigil.toxicity.labels import JIGSAW_LABELS


@pytest.fixture(scope="module")
def fractional_frame() -> pd.DataFrame:
    """Annotator-share labels (multiples of 0.1) for 400 generated comments."""
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "id": [f"c{i:04d}" for i in range(n)],
            "comment_text": [f"comment number {i}" for i in range(n)],
        }
    )
    toxic = rng.integers(0, 11, n) / 10
    frame["toxic"] = toxic
    for label in JIGSAW_LABELS[1:]:
        frame[label] = np.minimum(toxic, rng.integers(0, 11, n) / 10)
    return frame


def test_fractional_mode_keeps_the_fractions(fractional_frame):
    splits, meta = prepare(fractional_frame, task="multitask", label_mode="fractional")
    assert meta.labels == list(JIGSAW_LABELS)
    assert meta.class_weights is None
    values = np.concatenate([s[meta.labels].to_numpy().ravel() for s in splits.values()])
    assert set(np.round(values, 1)) - {0.0, 1.0}  # fractions survive
    assert sum(meta.rows.values()) == len(fractional_frame)


def test_binary_mode_thresholds_at_one_half_and_weights_rare_labels(fractional_frame):
    splits, meta = prepare(fractional_frame, task="multitask", label_mode="binary")
    train = splits["train"]
    assert set(np.unique(train[meta.labels].to_numpy())) <= {0.0, 1.0}
    original = fractional_frame.set_index("comment_text").loc[train["text"], "toxic"].to_numpy()
    assert np.array_equal(train["toxic"].to_numpy(), (original >= 0.5).astype(float))
    weights = np.array(meta.class_weights)
    positives = (train[meta.labels].to_numpy() >= 0.5).sum(axis=0)
    assert weights.mean() == pytest.approx(1.0)
    assert np.argmax(weights) == np.argmin(positives)  # the rarest label weighs most


def test_class_weights_by_hand():
    targets = np.array([[1, 1], [1, 0], [1, 0], [0, 0]], dtype=float)  # 3 and 1 positives
    raw = np.array([4 / (2 * 3), 4 / (2 * 1)])
    assert class_weights_from(targets) == pytest.approx(list(raw / raw.mean()))


def test_class_weight_specs_resolve_from_the_training_labels():
    from vigil.toxicity.training import resolve_class_weights

    targets = np.array([[1, 1], [1, 0], [1, 0], [0, 0.2]])  # 3 and 1 positives (0.2 < 0.5)
    raw = np.array([4 / (2 * 3), 4 / (2 * 1)])  # 2/3 and 2
    assert resolve_class_weights("balanced", {}, 2, targets) == pytest.approx(
        list(raw / raw.mean())
    )
    tempered = np.sqrt(raw / raw.mean())
    assert resolve_class_weights("sqrt-balanced", {}, 2, targets) == pytest.approx(
        list(tempered / tempered.mean())
    )
    assert resolve_class_weights("none", {}, 2, targets) is None
    assert resolve_class_weights("auto", {"class_weights": [0.5, 1.5]}, 2) == [0.5, 1.5]
    assert resolve_class_weights("1,3", {}, 2) == [1.0, 3.0]
    with pytest.raises(SystemExit, match="needs the training targets"):
        resolve_class_weights("balanced", {}, 2)
    with pytest.raises(SystemExit, match="3 values for 2 labels"):
        resolve_class_weights("1,2,3", {}, 2)


def test_tasks_choose_rows_and_labels(fractional_frame):
    _, binary = prepare(fractional_frame, task="binary")
    assert binary.labels == ["toxic"]
    splits, fine = prepare(fractional_frame, task="fine-grained")
    assert fine.labels == list(JIGSAW_LABELS[1:])
    kept = pd.concat(splits.values())
    toxic_rows = fractional_frame[fractional_frame["toxic"] >= 0.5]
    assert len(kept) == len(toxic_rows)


def test_split_is_deterministic_and_order_free(fractional_frame):
    a, _ = prepare(fractional_frame)
    b, _ = prepare(fractional_frame.sample(frac=1.0, random_state=3))
    for name in a:
        assert sorted(a[name]["text"]) == sorted(b[name]["text"])
    assert split_of("x", valid_fraction=0.1, test_fraction=0.1) == split_of(
        "x", valid_fraction=0.1, test_fraction=0.1
    )
    assert 0.05 < len(a["test"]) / len(fractional_frame) < 0.16


def test_bad_labels_are_named(fractional_frame):
    bad = fractional_frame.copy()
    bad.loc[5, "threat"] = 1.5
    with pytest.raises(DataError, match=r"'threat'.*row 5"):
        prepare(bad)
    with pytest.raises(DataError, match="missing columns"):
        prepare(fractional_frame.drop(columns=["insult"]), label_columns=list(JIGSAW_LABELS))


def test_cli_writes_channels_to_s3(moto_server, fractional_frame, tmp_path, capsys):
    from vigil.aws import client

    source = tmp_path / "comments.parquet"
    fractional_frame.to_parquet(source)
    s3 = client("s3")
    s3.create_bucket(Bucket="tox-data")
    code = main(
        ["--input", str(source), "--output", "s3://tox-data/prepared", "--label-mode", "binary"]
    )
    assert code == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="tox-data")["Contents"]}
    assert keys == {
        f"prepared/{c}/{f}"
        for c in ("train", "valid", "test")
        for f in ("data.parquet", "meta.json")
    }
    meta = json.loads(
        s3.get_object(Bucket="tox-data", Key="prepared/train/meta.json")["Body"].read()
    )
    assert meta["label_mode"] == "binary" and len(meta["class_weights"]) == 6
    assert (
        json.loads(capsys.readouterr().out)["channels"]["train"] == "s3://tox-data/prepared/train/"
    )


def test_cli_reports_bad_input(tmp_path, capsys):
    source = tmp_path / "bad.csv"
    pd.DataFrame({"comment_text": ["a"], "toxic": [2.0]}).to_csv(source, index=False)
    code = main(
        ["--input", str(source), "--output", str(tmp_path / "out"), "--label-columns", "toxic"]
    )
    assert code == 2
    assert "'toxic'" in capsys.readouterr().err
