"""`nnctl predict`: a saved model scores new data exactly as eval scores its test split."""

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.datasets.embedded import load as load_mnist_mini
from nnctl.experiment import evaluate_run, run_experiment

# MNIST digits, preprocessed in two steps whose fitted state must be applied at predict time.
MNIST = {
    "name": "digits",
    "seed": 5,
    "data": {
        "dataset": "mnist-mini",
        "split": {"train": 300, "val": 60, "test": 80},
        "preprocess": ["scale", "standardize"],
    },
    "model": {"hidden_dims": [24]},
    "train": {"optimizer": "adam", "learning_rate": 2e-3, "batch_size": 50, "epochs": 2},
}


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


def config(**sections):
    data = json.loads(json.dumps(MNIST))
    for section, values in sections.items():
        data[section].update(values)
    return validate(data)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    run_dir = run_experiment(config(), tmp_path_factory.mktemp("runs"), quiet=True).run_dir
    return run_dir, evaluate_run(run_dir)


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def predict_rows(run_dir, source, tmp_path, *extra):
    out = tmp_path / "predictions.csv"
    result = invoke("predict", run_dir, source, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return rows_of(out.read_text()), result


def assert_same_predictions(rows, expected):
    """Rows of the same images through the same float32 arithmetic: OpenBLAS may sum a
    differently aligned buffer in another order, so a logit can differ in its last bit.
    Everything but the probabilities exactly; those to float32 rounding."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert list(row) == list(want)
        for key, value in row.items():
            if key.startswith("p_"):
                assert float(value) == pytest.approx(float(want[key]), rel=1e-6)
            else:
                assert value == want[key]


def test_the_test_split_reproduces_evals_accuracy_and_confusion_exactly(digits, tmp_path):
    run_dir, evaluation = digits
    rows, result = predict_rows(run_dir, "split:test", tmp_path)
    assert len(rows) == 80
    predicted = np.array([int(r["class"]) for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    assert float(np.mean(predicted == labels)) == evaluation.accuracy
    assert f"accuracy {evaluation.accuracy:.4f}" in result.stderr
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    eval_json = json.loads((run_dir / "eval.json").read_text())
    np.testing.assert_array_equal(confusion, eval_json["test"]["confusion"])
    assert [r["class_name"] for r in rows] == [str(c) for c in predicted]


def test_softmax_probabilities_are_a_distribution_whose_argmax_is_the_class(digits, tmp_path):
    rows, _ = predict_rows(digits[0], "split:test", tmp_path)
    columns = [f"p_{c}" for c in range(10)]
    assert list(rows[0])[-10:] == columns
    probabilities = np.array([[float(r[c]) for c in columns] for r in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    assert (probabilities.argmax(axis=1) == [int(r["class"]) for r in rows]).all()
    assert (probabilities > 0).all() and probabilities.max(axis=1).min() > 0.1


def test_raw_arrays_and_image_files_get_the_saved_preprocessing(digits, tmp_path):
    """The test images as a raw .npz and as PNG files predict as split:test does,
    so predict applied the saved preprocessing (scale, then the fitted standardize)."""
    from PIL import Image

    run_dir, _ = digits
    expected, _ = predict_rows(run_dir, "split:test", tmp_path)
    raw = load_mnist_mini()
    X, y = raw.X_test[:80], raw.y_test[:80]
    np.savez(tmp_path / "digits.npz", X=X, y=y)
    from_npz, result = predict_rows(run_dir, tmp_path / "digits.npz", tmp_path)
    assert_same_predictions(from_npz, expected)

    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(X):
        Image.fromarray(image[:, :, 0]).save(folder / f"{i:03d}.png")  # grey PNG
    from_files, _ = predict_rows(run_dir, folder, tmp_path)
    assert [r["file"] for r in from_files] == [f"{i:03d}.png" for i in range(80)]
    for a, b in zip(from_files, expected, strict=True):
        # PNG pixels come back as floats in 0..1 and are scaled back to 0..255 in float32,
        # so probabilities agree to rounding, not to the last digit
        assert a["class"] == b["class"]
        assert float(a["p_3"]) == pytest.approx(float(b["p_3"]), rel=1e-6)

    # a JPEG (matplotlib reads it as uint8, not as floats in 0..1) of one grey level
    jpeg = tmp_path / "jpeg"
    jpeg.mkdir()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(jpeg / "grey.jpg", quality=100)
    np.savez(tmp_path / "grey.npz", X=np.full((1, 28, 28, 1), 200, np.uint8))
    from_jpeg, _ = predict_rows(run_dir, jpeg, tmp_path)
    from_array, _ = predict_rows(run_dir, tmp_path / "grey.npz", tmp_path)
    assert from_jpeg[0]["p_3"] == from_array[0]["p_3"]

    # an RGB image is turned grey; a wrong size is refused unless --resize
    Image.fromarray(np.repeat(X[0], 3, axis=2)).save(folder / "rgb.png")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(folder / "small.png")
    result = invoke("predict", run_dir, folder, "--out", tmp_path / "p.csv")
    assert result.exit_code == 2
    assert "small.png is 30x20 pixels but the model takes 28x28 images" in result.stderr
    resized, _ = predict_rows(run_dir, folder, tmp_path, "--resize")
    assert len(resized) == 82
    rgb = next(r for r in resized if r["file"] == "rgb.png")
    assert rgb["class"] == expected[0]["class"]


def test_knn_and_hog_features_runs_predict_as_eval(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the feature cache
    runs = tmp_path / "runs"
    knn = run_experiment(config(model={"type": "knn", "k": 3}), runs, quiet=True).run_dir
    hog = run_experiment(
        config(data={"features": ["hog"], "preprocess": ["standardize"]}), runs, quiet=True
    ).run_dir
    raw = load_mnist_mini()
    np.savez(tmp_path / "digits.npz", X=raw.X_test[:80], y=raw.y_test[:80])
    columns = {}
    for run_dir in (knn, hog):
        accuracy = evaluate_run(run_dir).accuracy
        rows, _ = predict_rows(run_dir, "split:test", tmp_path)
        assert np.mean([r["class"] == r["label"] for r in rows]) == accuracy
        assert_same_predictions(predict_rows(run_dir, tmp_path / "digits.npz", tmp_path)[0], rows)
        columns[run_dir] = list(rows[0])
    assert columns[knn] == ["index", "class", "class_name", "label"]  # no probabilities
    assert columns[hog][-1] == "p_9"


def test_a_named_datasets_test_split_and_stdout(digits, tmp_path):
    result = invoke("predict", digits[0], "dataset:mnist-mini", "--out", "-")
    assert result.exit_code == 0
    rows = rows_of(result.stdout)
    assert len(rows) == len(load_mnist_mini().y_test)
    assert "accuracy" in result.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nowhere.npz", "nowhere.npz does not exist"),
        ("split:train", "split:train is not a split"),
        ("dataset:imagenet", "unknown dataset 'imagenet'"),
        ("empty", "holds no PNG or JPEG images"),
        ("noX.npz", "has no array X"),
        ("flat.npz", "examples of shape (5,) do not fit the model"),
        ("flat4.npz", "examples of shape (2, 2, 1) do not fit the model"),
        ("dot.npz", "examples of shape (1, 1, 1) do not fit the model"),
    ],
)
def test_inputs_that_do_not_fit_are_one_line_and_nothing_is_written(
    digits, tmp_path, monkeypatch, source, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    np.savez(tmp_path / "noX.npz", y=np.zeros(3, np.int64))
    np.savez(tmp_path / "flat.npz", X=np.zeros((3, 5)))
    np.savez(tmp_path / "flat4.npz", X=np.zeros((3, 2, 2, 1)))
    np.savez(tmp_path / "dot.npz", X=np.zeros((3, 1, 1, 1)))  # would broadcast to 28x28
    result = invoke("predict", digits[0], source)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "predictions.csv").exists()
