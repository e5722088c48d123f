"""Scoring a saved model on a split: what `nnctl eval` measures for each kind of model.

Each function takes the saved run, the loaded splits and the split's (X, y), writes its plots
into the run folder (whose lock the caller holds) and returns an EvalResult whose `report` is
what eval.json keeps for the split.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl import viz
from nnctl.datasets.preprocess import flatten
from nnctl.models import KNearestNeighbor
from nnctl.models.subspace import orthonormality_error, pca_subspace, principal_angles


@dataclass
class EvalResult:
    run_dir: Path
    split: str
    accuracy: float | None
    per_class: dict
    confusion: np.ndarray | None
    class_names: list
    plots: list
    note: str | None = None
    metrics: dict = field(default_factory=dict)  # what else was measured, by name
    report: dict = field(default_factory=dict)  # eval.json's entry for the split


def score_classifier(saved, splits, X, y, split):
    """Accuracy, per-class accuracy, the confusion matrix and the misclassified examples."""
    folder, model, info = saved.folder, saved.model, saved.info
    pred = model.predict(flatten(X) if isinstance(model, KNearestNeighbor) else X)
    names = info.get("class_names") or splits.class_names
    C = len(names)
    confusion = np.bincount(y * C + pred, minlength=C * C).reshape(C, C)
    per_class = {
        names[c]: (float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None)
        for c in range(C)
    }
    accuracy = float(np.mean(pred == y))
    suffix = "" if split == "test" else "_val"
    plots = [
        viz.plot_confusion(
            confusion,
            names,
            folder.plots / f"confusion{suffix}.png",
            title=f"Confusion ({split}, {saved.config.name})",
        )
    ]
    image_shape = info.get("image_shape")
    if image_shape and X[0].size == int(np.prod(image_shape)):
        channels_first = "channels_first" in info["preprocess"]
        images = viz.rows_as_images(flatten(X), image_shape, channels_first)
        plots.append(
            viz.plot_misclassified(
                images,
                y,
                pred,
                names,
                folder.plots / f"misclassified{suffix}.png",
                title=f"Misclassified {split} images (rows: the class predicted), "
                f"{saved.config.name}",
            )
        )
    report = {
        "accuracy": accuracy,
        "examples": int(len(y)),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        "class_names": names,
    }
    return EvalResult(
        folder.path, split, accuracy, per_class, confusion, names, plots, report=report
    )


def learned_subspace(model):
    """The rows spanning what a linear autoencoder keeps, and whether to compare them with the
    centred PCA: a tied model's W (uncentred, it has no biases), an untied model's decoder
    rows W2 (centred: its biases learn the mean)."""
    if model.tied:
        return model.params["W"], False
    return model.params["W2"], True


def score_autoencoder(saved, splits, X, y, split):
    """The reconstruction error on the split, a picture of originals beside reconstructions,
    and for a linear model how close it came to PCA: the principal angles between its
    subspace and the top-m principal subspace of the training data, and ||W W^T - I||_F."""
    folder, model, info = saved.folder, saved.model, saved.info
    metrics = {"reconstruction_error": model.reconstruction_error(X)}
    if model.activation is None:
        rows, center = learned_subspace(model)
        pca = pca_subspace(flatten(splits.X_train).astype(np.float64), model.code_dim, center)
        angles = principal_angles(rows.astype(np.float64), pca)
        metrics["largest_principal_angle_deg"] = float(angles.max())
        metrics["mean_principal_angle_deg"] = float(angles.mean())
        metrics["orthonormality_error"] = orthonormality_error(rows.astype(np.float64))
    plots = []
    image_shape = info.get("image_shape")
    if image_shape and X[0].size == int(np.prod(image_shape)):
        shown = X[:16]
        plots.append(
            viz.plot_reconstructions(
                shown,
                model.predict(shown),
                image_shape,
                folder.plots
                / ("reconstructions.png" if split == "test" else "reconstructions_val.png"),
                channels_first="channels_first" in info["preprocess"],
                title=f"{split} originals (upper) and reconstructions (lower), {saved.config.name}",
            )
        )
    report = {"examples": int(len(X)), **metrics}
    return EvalResult(folder.path, split, None, {}, None, [], plots, metrics=metrics, report=report)
