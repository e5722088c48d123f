"""The one place a model type is dispatched on: RUNNERS maps every name in
nnctl.models.MODEL_TYPES to its job class (how it trains in a run, how `nnctl eval` scores it,
how `nnctl viz-weights` pictures it). A test checks the two registries agree."""

from nnctl.experiment.autoencode import AutoencoderJob
from nnctl.experiment.runners import KnnJob, NetJob
from nnctl.registry import Registry

# Constructing a job is the runner's "prepare": it checks the input and builds everything
# without writing a file.
RUNNERS = Registry("model type", {"mlp": NetJob, "knn": KnnJob, "autoencoder": AutoencoderJob})
