"""The autoencoder in a run: trained by the Solver like a net, pictured and scored its own way."""

import numpy as np

from nnctl import viz
from nnctl.experiment.runners import NetJob
from nnctl.experiment.scoring import score_autoencoder


def picture_code(model, image_shape, preprocess, path, title):
    """The encoder's m rows as image tiles (for image data), else as a heat map."""
    W = model.encoder_weights().astype(np.float32)  # (m, n)
    if image_shape and W.shape[1] == int(np.prod(image_shape)):
        return viz.plot_weight_grid(
            W.T, tuple(image_shape), path, channels_first="channels_first" in preprocess,
            title=title,
        )  # fmt: skip
    return viz.plot_weight_matrix(W.T, path, title=title)


class AutoencoderJob(NetJob):
    """Trained like a net (its per-epoch metric is the reconstruction error, lower is
    better); its plots are the loss, the error per epoch, the code's directions and a grid of
    validation images beside their reconstructions."""

    score = staticmethod(score_autoencoder)

    def summary_fields(self, result):
        solver = self.solver
        return {
            "best_val_error": solver.best_val_acc,
            "train_error": result.train_acc,
            "val_error": result.val_acc,
        }

    def _plot(self, folder):
        solver, name, splits = self.solver, self.config.name, self.splits
        viz.plot_loss(
            solver.loss_history, folder.plots / "loss.png", title=f"Training loss ({name})"
        )
        if solver.train_acc_history:
            viz.plot_accuracy(
                solver.train_acc_history,
                solver.val_acc_history,
                folder.plots / "error.png",
                title=f"Reconstruction error ({name})",
            )
        picture_code(
            self.model, splits.image_shape, splits.preprocess, folder.plots / "weights.png",
            title=f"Code directions: the rows of W ({name})",
        )  # fmt: skip
        shown = splits.X_val[:16] if len(splits.X_val) else splits.X_train[:16]
        if splits.image_shape and shown[0].size == int(np.prod(splits.image_shape)):
            viz.plot_reconstructions(
                shown, self.model.predict(shown), splits.image_shape,
                folder.plots / "reconstructions.png",
                channels_first="channels_first" in splits.preprocess,
                title=f"Originals (upper) and reconstructions (lower), {name}",
            )  # fmt: skip

    @staticmethod
    def picture_weights(saved, out, layer):
        return picture_code(
            saved.model, saved.info.get("image_shape"), saved.info["preprocess"], out,
            title=f"Code directions: the rows of W ({saved.config.name})",
        )  # fmt: skip
