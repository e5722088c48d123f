"""One list of every name: each is defined once, in a registry beside what it names, and the
config schema takes its allowed values from there."""

import typing

import pytest

from nnctl import config
from nnctl.datasets import SOURCES, dataset_table
from nnctl.datasets.augment import AUGMENTATIONS
from nnctl.datasets.features import FEATURES
from nnctl.datasets.preprocess import STEPS
from nnctl.experiment.dispatch import RUNNERS
from nnctl.models import MODEL_TYPES
from nnctl.models.fcnet import DTYPES, INITS
from nnctl.models.knn import METRICS
from nnctl.nn.layers import ACTIVATIONS, NORMALIZATIONS
from nnctl.nn.losses import LOSSES
from nnctl.nn.optim import UPDATE_RULES
from nnctl.status import Status
from nnctl.training.schedules import SCHEDULES


def allowed(model, field):
    """The names a schema field accepts, read from its annotation."""
    names = set()
    stack = [model.model_fields[field].annotation]
    while stack:
        annotation = stack.pop()
        if typing.get_origin(annotation) is typing.Literal:
            names.update(typing.get_args(annotation))
        else:
            stack.extend(typing.get_args(annotation))
    return names


@pytest.mark.parametrize(
    ("model", "field", "registry"),
    [
        (config.DataConfig, "dataset", SOURCES),
        (config.DataConfig, "preprocess", STEPS),
        (config.DataConfig, "features", FEATURES),
        (config.DataConfig, "augment", AUGMENTATIONS),
        (config.ModelConfig, "type", MODEL_TYPES),
        (config.ModelConfig, "activation", ACTIVATIONS),
        (config.ModelConfig, "normalization", NORMALIZATIONS),
        (config.ModelConfig, "loss", LOSSES),
        (config.ModelConfig, "init", INITS),
        (config.ModelConfig, "dtype", DTYPES),
        (config.ModelConfig, "metric", METRICS),
        (config.TrainConfig, "optimizer", UPDATE_RULES),
        (config.ScheduleConfig, "type", SCHEDULES),
    ],
)
def test_the_schema_accepts_exactly_the_registered_names(model, field, registry):
    assert allowed(model, field) == set(registry)


def test_every_model_type_has_a_runner_and_every_dataset_a_row():
    assert set(RUNNERS) == set(MODEL_TYPES)
    assert [row["name"] for row in dataset_table()] == list(SOURCES)


def test_statuses_are_one_enum():
    assert [s.value for s in Status] == [
        "running", "completed", "diverged", "failed", "interrupted", "stopped", "paused",
        "stale",
    ]  # fmt: skip
    assert {s for s in Status if s.finished} == {
        Status.COMPLETED, Status.DIVERGED, Status.FAILED, Status.STOPPED,
    }  # fmt: skip
