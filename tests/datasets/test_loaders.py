"""Every loader, on small files in the genuine formats, and every way those files go wrong."""

from pathlib import Path

import numpy as np
import pytest

from nnctl.datasets import cifar10, load_dataset, mnist, npz
from nnctl.errors import DatasetError
from tests.datasets.fakes import (
    idx_bytes,
    py2_pickle,
    write_cifar,
    write_cifar_archive,
    write_mnist,
)


def test_cifar_batches_load_as_images(tmp_path):
    _, batches = write_cifar(tmp_path, n_per_batch=20)
    raw = cifar10.load(tmp_path)
    assert raw.X_train.shape == (100, 32, 32, 3) and raw.X_train.dtype == np.uint8
    assert raw.X_test.shape == (20, 32, 32, 3)
    assert raw.y_train.dtype == np.int64
    assert raw.class_names[0] == "airplane" and len(raw.class_names) == 10
    # Row 0 of batch 1: the first 1024 bytes are the red plane, row-major.
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_array_equal(raw.X_train[0, :, :, 0], first[:1024].reshape(32, 32))
    np.testing.assert_array_equal(
        raw.X_train[0, 5, 7], first[[5 * 32 + 7, 1024 + 5 * 32 + 7, 2048 + 5 * 32 + 7]]
    )
    np.testing.assert_array_equal(raw.y_train[20:40], batches["data_batch_2"][b"labels"])


def test_cifar_archive_is_extracted_on_first_use(tmp_path):
    batches = write_cifar_archive(tmp_path)
    raw = cifar10.load(tmp_path)
    assert (tmp_path / "cifar-10-batches-py" / "data_batch_3").is_file()
    np.testing.assert_array_equal(raw.y_test, batches["test_batch"][b"labels"])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_malicious_pickle_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data_batch_1"
    py2_pickle({b"data": _Evil()}, path)
    with pytest.raises(
        DatasetError, match="not a genuine CIFAR-10 batch: refusing to load .*system"
    ):
        cifar10.read_batch(path)
    assert not (tmp_path / "pwned").exists()


def test_truncated_cifar_batch(tmp_path):
    folder, _ = write_cifar(tmp_path)
    data = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="data_batch_2 is truncated or corrupt"):
        cifar10.load(tmp_path)


def test_wrongly_shaped_cifar_batch(tmp_path):
    folder, _ = write_cifar(tmp_path)
    py2_pickle(
        {b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, folder / "test_batch"
    )
    with pytest.raises(DatasetError, match="test_batch has data of shape \\(4, 100\\)"):
        cifar10.load(tmp_path)


def test_incomplete_cifar_folder(tmp_path):
    folder, _ = write_cifar(tmp_path)
    (folder / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match="incomplete: missing data_batch_4"):
        cifar10.load(tmp_path)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_idx_files(tmp_path, gz, name):
    arrays = write_mnist(tmp_path, folder=name, gz=gz)
    raw = mnist.load(tmp_path, name)
    assert raw.X_train.shape == (30, 28, 28, 1) and raw.X_test.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(raw.X_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(raw.X_test[..., 0], arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert raw.class_names[9] == ("9" if name == "mnist" else "ankle boot")


def test_idx_bad_magic_truncated_and_mismatched(tmp_path):
    write_mnist(tmp_path, gz=False)
    folder = tmp_path / "mnist"
    good = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + good[4:])
    with pytest.raises(DatasetError, match="magic number 00000d03, expected 00000803"):
        mnist.load(tmp_path, "mnist")
    (folder / "train-images-idx3-ubyte").write_bytes(good[:-5])
    with pytest.raises(DatasetError, match="bytes but its header \\[30, 28, 28\\] implies"):
        mnist.load(tmp_path, "mnist")
    (folder / "train-images-idx3-ubyte").write_bytes(good)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(DatasetError, match="has 30 images but .* has 29 labels"):
        mnist.load(tmp_path, "mnist")
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match="truncated"):
        mnist.load(tmp_path, "mnist")


def test_corrupt_gzip(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz could not be read"):
        mnist.load(tmp_path, "mnist")


def test_missing_dataset_says_where_and_how_to_fetch(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset({"dataset": "cifar10", "root": str(tmp_path)})
    message = str(err.value)
    assert str(tmp_path) in message
    assert f"nnctl datasets download cifar10 --data-dir {tmp_path}" in message


def test_root_resolution_order(tmp_path, monkeypatch):
    from nnctl.datasets.source import data_root

    monkeypatch.setenv("NNCTL_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root("cfg", "cli") == Path("cfg")
    assert data_root(None, "cli") == Path("cli")
    assert data_root("~/d", None) == Path.home() / "d"
    assert data_root(None, None) == tmp_path / "env"
    monkeypatch.delenv("NNCTL_DATA_DIR")
    assert data_root(None, None) == tmp_path / "xdg" / "nnctl"


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_dataset_with_own_validation_set(tmp_path, rng):
    arrays = {
        "X_train": rng.standard_normal((30, 4)),
        "y_train": rng.integers(3, size=30),
        "X_val": rng.standard_normal((7, 4)),
        "y_val": rng.integers(3, size=7),
        "X_test": rng.standard_normal((5, 4)),
        "y_test": rng.integers(3, size=5),
    }
    write_npz(tmp_path / "d.npz", **arrays, class_names=np.array(["a", "b", "c"]))
    splits = load_dataset({"dataset": "npz", "path": "d.npz"}, base_dir=tmp_path)
    for split in ("train", "val", "test"):  # each split is the file's own, in full
        np.testing.assert_array_equal(
            getattr(splits, f"X_{split}"), arrays[f"X_{split}"].astype(np.float32)
        )
        np.testing.assert_array_equal(getattr(splits, f"y_{split}"), arrays[f"y_{split}"])
    assert splits.class_names == ["a", "b", "c"] and splits.image_shape is None
    assert splits.X_train.dtype == np.float32
    # (N, H, W, C) arrays with 1 or 3 channels are images.
    write_npz(tmp_path / "i.npz", X_train=np.zeros((3, 2, 4, 3)), y_train=np.zeros(3, int))
    assert npz.load(tmp_path / "i.npz").image_shape == (2, 4, 3)


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"X_train": np.zeros((3, 2))}, "lacks y_train"),
        ({"X_train": np.zeros((3, 2)), "y_train": np.zeros(4, int)}, "one label per row"),
        ({"X_train": np.zeros((3, 2)), "y_train": np.array([0.0, 1, 1])}, "integer labels"),
        (
            {
                "X_train": np.zeros((3, 2)),
                "y_train": np.array([0, 1, 5]),
                "class_names": np.array(["a", "b"]),
            },
            "outside 0..1",
        ),
        ({"X_train": np.array([[0, np.nan]] * 3), "y_train": np.zeros(3, int)}, "NaN or infinite"),
        (
            {"X_train": np.zeros((3, 2)), "y_train": np.zeros(3, int), "X_test": np.zeros((2, 2))},
            "only one of X_test",
        ),
        (
            {
                "X_train": np.zeros((3, 2)),
                "y_train": np.zeros(3, int),
                "X_val": np.zeros((2, 3)),
                "y_val": np.zeros(2, int),
            },
            "X_val has examples of shape",
        ),
        ({"X_train": np.array([["a", "b"]] * 3), "y_train": np.zeros(3, int)}, "numeric"),
    ],
)
def test_invalid_npz_contents(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=message):
        npz.load(path)


def test_npz_not_a_zip_and_missing(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        npz.load(tmp_path / "x.npz")
    with pytest.raises(DatasetError, match="does not exist"):
        npz.load(tmp_path / "nope.npz")


def test_pickled_npz_is_refused(tmp_path):
    np.savez(
        tmp_path / "p.npz", X_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, int)
    )
    with pytest.raises(DatasetError, match="not a readable .npz"):
        npz.load(tmp_path / "p.npz")


def test_bundled_mnist_mini_is_real_and_stratified():
    splits = load_dataset({"dataset": "mnist-mini", "split": {"val": 0}})
    assert splits.X_train.shape == (10000, 28, 28, 1) and splits.X_test.shape == (2000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(splits.y_train), 1000)
    np.testing.assert_array_equal(np.bincount(splits.y_test), 200)
    assert 0 <= splits.X_train.min() and splits.X_train.max() == 255
    assert splits.X_train.mean() == pytest.approx(33.3, abs=1.5)  # MNIST's mean pixel value


def test_synthetic_sets_are_reproducible_from_the_seed():
    def load(seed, name):
        return load_dataset(
            {"dataset": name, "classes": 4, "split": {"train": 100, "val": 20, "test": 30}},
            np.random.default_rng(seed),
        )

    for name in ("spiral", "blobs"):
        a, b, c = load(1, name), load(1, name), load(2, name)
        if name == "spiral":  # the spiral's radius runs from 0 to 1
            assert np.linalg.norm(a.X_train, axis=1).max() <= 1.0 + 1e-6
        np.testing.assert_array_equal(a.X_train, b.X_train)
        assert not np.array_equal(a.X_train, c.X_train)
        assert (
            a.X_train.shape == (100, 2) and a.X_val.shape == (20, 2) and a.X_test.shape == (30, 2)
        )
        assert set(np.unique(a.y_train)) == {0, 1, 2, 3} and a.num_classes == 4
