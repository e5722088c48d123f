"""Keys that have no effect in the chosen setting are errors, and settings the loaded data
makes impossible are refused before anything runs (check_against_data)."""

from types import SimpleNamespace

import numpy as np
import pytest

from nnctl.config import check_against_data, load_config, to_yaml, validate
from nnctl.errors import ConfigError, ModelError
from nnctl.models import KNearestNeighbor


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path, text, overrides=()):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    return str(err.value).replace(f"{path}:", "").splitlines()


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "train: {optimizer: adam, momentum: 0.5}",
            "1:26: train.momentum: has no effect: it is used only when train.optimizer is "
            "sgd_momentum, and here train.optimizer is 'adam'; remove it",
        ),
        (
            "model: {k: 5}",
            "1:9: model.k: has no effect: it is used only when model.type is knn, "
            "and here model.type is 'mlp'; remove it",
        ),
        ("model: {metric: l1}", "1:9: model.metric: has no effect: it is used only when"),
        ("model: {type: knn, dropout: 0.5}", "model.dropout: has no effect: it is used only"),
        (
            "model: {type: knn}\ntrain: {epochs: 3}",
            "2:9: train.epochs: has no effect: it is used only when model.type is mlp or "
            "autoencoder (kNN is not trained by an optimiser), and here model.type is 'knn'; "
            "remove it",
        ),
        ("model: {type: knn, k: 3, folds: 3}", "model.folds: has no effect: it is used only when"),
        ("model: {init: he, weight_scale: 0.1}", "model.weight_scale: has no effect"),
        (
            "data: {dataset: spiral, augment: [hflip]}",
            "1:25: data.augment: has no effect: it is used only when data.dataset is an image "
            "dataset (spiral and blobs are generated vectors), and here data.dataset is "
            "'spiral'; remove it",
        ),
        ("data: {dataset: blobs, features: [hog]}", "data.features: has no effect"),
        (
            "data: {dataset: cifar10, features: [hog], augment: [hflip]}",
            "data.augment: has no effect: it is used only when data.features is null",
        ),
        ("data: {augment: [hflip]}\nmodel: {type: knn}", "data.augment: has no effect"),
        ("data: {dataset: cifar10, classes: 4}", "data.classes: has no effect"),
        ("data: {dataset: spiral, dim: 4}", "data.dim: has no effect"),
        ("data: {dataset: mnist, path: x.npz}", "data.path: has no effect"),
        ("data: {dataset: spiral, download: true}", "data.download: has no effect"),
        ("sweep: {trials: 5, params: {model.reg: [0.1]}}", "sweep.trials: has no effect"),
    ],
)
def test_a_key_without_effect_is_an_error(tmp_path, text, expected):
    lines = problems(tmp_path, text + "\n")
    assert len(lines) == 1 and expected in lines[0]


@pytest.mark.parametrize(
    "text",
    [
        "train: {optimizer: sgd_momentum, momentum: 0.5}",
        "model: {type: knn, k: [1, 3], folds: 3, metric: l1}\ndata: {split: {val: 0}}",
        "model: {hidden_dims: [5], init: he}",
        "data: {dataset: cifar10, augment: [hflip]}",
        "data: {dataset: npz, path: x.npz, augment: [hflip]}",  # npz may hold images
        "data: {dataset: blobs, classes: 4, dim: 3, noise: 0.5}",
        "data: {dataset: cifar10, root: /data, download: true}",
        "sweep: {method: random, trials: 5, params: {model.reg: {log_uniform: [0.1, 1]}}}",
        # Set to their defaults, null or empty, keys ask for nothing:
        "model: {k: 1, metric: l2, folds: 5}\ntrain: {momentum: null}\ndata: {augment: []}",
    ],
)
def test_keys_that_have_an_effect_pass(tmp_path, text):
    load_config(write(tmp_path, text + "\n"))


def test_every_key_without_effect_is_reported_at_once(tmp_path):
    lines = problems(tmp_path, "model: {type: knn, reg: 0.1}\ntrain: {epochs: 3, momentum: 0.5}\n")
    keys = sorted(line.split(": ")[1] for line in lines)
    assert keys == ["model.reg", "train.epochs", "train.momentum"]


def test_overrides_are_checked_too(tmp_path):
    lines = problems(tmp_path, "name: x\n", ["train.momentum=0.9"])
    assert lines == [
        "override train.momentum: train.momentum: has no effect: it is used only when "
        "train.optimizer is sgd_momentum, and here train.optimizer is 'sgd'; remove it"
    ]


def test_sweeping_a_key_without_effect_is_an_error(tmp_path):
    text = "train: {optimizer: adam}\nsweep:\n  params:\n    train.momentum: [0.5, 0.9]\n"
    assert problems(tmp_path, text) == [
        "4:5: sweep.params.train.momentum: has no effect: train.momentum is used only when "
        "train.optimizer is sgd_momentum, and here train.optimizer is 'adam'; remove it"
    ]


def test_a_swept_deciding_key_leaves_the_check_to_the_trials(tmp_path):
    text = (
        "train: {optimizer: adam, momentum: 0.5}\n"
        "sweep: {params: {train.optimizer: [adam, sgd_momentum], train.momentum: [0.5, 0.9]}}\n"
    )
    assert load_config(write(tmp_path, text)).train.momentum == 0.5


@pytest.mark.parametrize(
    "text",
    [
        "model: {type: knn, k: [1, 5]}\ndata: {split: {val: 0}}\n",
        "model: {hidden_dims: [8]}\ntrain: {optimizer: adam}\n",
    ],
)
def test_a_resolved_config_loads_again(tmp_path, text):
    # A resolved config writes every key out, also those the setting does not use.
    config = load_config(write(tmp_path, text))
    again = load_config(write(tmp_path, to_yaml(config), "resolved.yaml"))
    assert again == config


# -- check_against_data ----------------------------------------------------------------------


def splits(n_train, image_shape=(4, 4, 1), num_classes=3):
    """A stand-in for datasets.Splits with only what check_against_data reads."""
    X_train = np.zeros((n_train, 16), dtype=np.float32)
    return SimpleNamespace(X_train=X_train, image_shape=image_shape, num_classes=num_classes)


def knn(k, folds=5):
    return validate({"model": {"type": "knn", "k": k, "folds": folds}})


def test_augmentation_needs_images():
    config = validate({"data": {"dataset": "npz", "path": "x.npz", "augment": ["hflip"]}})
    check_against_data(config, splits(10))
    with pytest.raises(ConfigError) as err:
        check_against_data(config, splits(10, image_shape=None))
    assert str(err.value) == (
        "data.augment: augmentation needs images, but the examples of dataset npz are not "
        "images (no image shape); remove data.augment"
    )


def test_a_classifier_needs_two_classes():
    with pytest.raises(ConfigError, match="the training data has 1 class; a classifier needs 2"):
        check_against_data(validate({}), splits(10, num_classes=1))
    check_against_data(validate({}), splits(10, num_classes=2))


def test_k_cannot_exceed_the_training_set():
    check_against_data(knn(10), splits(10))
    with pytest.raises(ConfigError) as err:
        check_against_data(knn(11), splits(10))
    assert str(err.value) == "model.k: k = 11 is more than the 10 training examples"


@pytest.mark.parametrize("n_train,folds", [(11, 5), (10, 5), (7, 3), (5, 2)])
def test_cross_validated_k_must_fit_every_fold(rng, n_train, folds):
    # Reference: the smallest training part of np.array_split's folds, and the model itself.
    smallest = min(n_train - len(fold) for fold in np.array_split(np.arange(n_train), folds))
    X, y = rng.normal(size=(n_train, 3)), np.arange(n_train) % 2
    KNearestNeighbor().cross_validate(X, y, [smallest], num_folds=folds)
    with pytest.raises(ModelError):
        KNearestNeighbor().cross_validate(X, y, [smallest + 1], num_folds=folds)

    check_against_data(knn([1, smallest], folds), splits(n_train))
    with pytest.raises(ConfigError) as err:
        check_against_data(knn([1, smallest + 1, smallest + 2], folds), splits(n_train))
    assert str(err.value) == (
        f"model.k: {smallest + 1}, {smallest + 2} are more than the {smallest} training "
        f"examples of a cross-validation fold ({n_train} examples in {folds} folds)"
    )


def test_more_folds_than_examples():
    with pytest.raises(ConfigError, match="model.folds: 6 folds need at least as many training"):
        check_against_data(knn([1, 2], folds=6), splits(5))


def test_every_data_problem_is_reported_at_once():
    config = validate(
        {
            "data": {"dataset": "npz", "path": "x.npz", "augment": ["hflip"]},
            "model": {"type": "knn", "k": 50},
        }
    )
    with pytest.raises(ConfigError) as err:
        check_against_data(config, splits(10, image_shape=None, num_classes=1))
    assert len(str(err.value).splitlines()) == 3
