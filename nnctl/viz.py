"""Every plot nnctl draws. Each function takes arrays and a path and writes one PNG.

matplotlib is imported inside the functions (Agg backend), so importing nnctl stays fast and
works without a display.
"""

import math

import numpy as np

DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Light PNG compression: encoding at the default level took most of the time of a plot.
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})
    _pyplot().close(fig)
    return path


def _fixed_margins(fig):
    """Margins for a plot with one axes. The per-run plots use these rather than a layout
    engine, which costs more than drawing the plot (runs of a sweep draw many)."""
    fig.subplots_adjust(left=0.1, right=0.96, bottom=0.11, top=0.92)


def smooth(values, window):
    """Moving average of values over `window` points (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or window <= 1:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def plot_loss(loss_history, path, title="Training loss"):
    """Per-iteration loss (faint) with a smoothed line on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    steps = np.arange(1, len(loss_history) + 1)
    ax.plot(steps, loss_history, color="tab:blue", alpha=0.3, linewidth=0.8, label="per iteration")
    window = max(1, len(loss_history) // 50)
    ax.plot(
        steps,
        smooth(loss_history, window),
        color="tab:blue",
        linewidth=2,
        label=f"mean of {window}",
    )
    ax.set(title=title, xlabel="iteration", ylabel="loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _fixed_margins(fig)
    return _save(fig, path)


def plot_accuracy(train_acc, val_acc, path, title="Accuracy"):
    """Training and validation accuracy per epoch."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    epochs = np.arange(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, "o-", label="train")
    if len(val_acc) and not np.all(np.isnan(np.asarray(val_acc, dtype=float))):
        ax.plot(epochs, val_acc, "s-", label="validation")
    ax.set(title=title, xlabel="epoch", ylabel="accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    _fixed_margins(fig)
    return _save(fig, path)


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile images Xs (N, H, W, C) into one (G*H + (G-1)*pad, G*W + (G-1)*pad, C) grid with
    G = ceil(sqrt(N)); each image is rescaled to [0, ubound] on its own (the course's helper)."""
    N, H, W, C = Xs.shape
    grid_size = int(math.ceil(math.sqrt(N)))
    grid = np.zeros(
        (grid_size * H + padding * (grid_size - 1), grid_size * W + padding * (grid_size - 1), C)
    )
    for i in range(N):  # a loop over tiles (at most a few hundred), not over data
        y, x = divmod(i, grid_size)
        img = Xs[i]
        low, high = img.min(), img.max()
        scaled = ubound * (img - low) / (high - low) if high > low else np.zeros_like(img)
        y0, x0 = y * (H + padding), x * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = scaled
    return grid


def rows_as_images(rows, image_shape, channels_first=False):
    """Flat rows (N, D) as images (N, H, W, C); image_shape is (H, W, C)."""
    H, W, C = image_shape
    if channels_first:
        return rows.reshape(-1, C, H, W).transpose(0, 2, 3, 1)
    return rows.reshape(-1, H, W, C)


def weights_as_images(W, image_shape, channels_first=False):
    """First-layer weights W (D, M) as M images (M, H, W, C)."""
    return rows_as_images(W.T, image_shape, channels_first)


def _show(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray")
    else:
        ax.imshow(image)
    ax.axis("off")


def plot_weight_grid(
    W, image_shape, path, channels_first=False, max_tiles=400, title="First-layer weights"
):
    """Hidden units' input weights as image tiles in a grid (at most max_tiles of them)."""
    plt = _pyplot()
    images = weights_as_images(W[:, :max_tiles], image_shape, channels_first)
    grid = visualize_grid(images).astype(np.uint8)
    fig, ax = plt.subplots(figsize=(8, 8))
    _show(ax, grid)
    ax.set_title(f"{title} ({images.shape[0]} of {W.shape[1]} units)")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.94)
    return _save(fig, path)


def plot_class_templates(W, image_shape, class_names, path, channels_first=False):
    """A linear classifier's weights: one labelled template image per class."""
    plt = _pyplot()
    images = weights_as_images(W, image_shape, channels_first)
    cols = min(5, len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (img, ax) in enumerate(zip(images, axes.ravel(), strict=False)):
        low, high = img.min(), img.max()
        _show(ax, ((img - low) / (high - low) if high > low else np.zeros_like(img)))
        ax.set_title(class_names[i] if i < len(class_names) else str(i))
    fig.suptitle("Class templates (linear classifier weights)")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88, hspace=0.3)
    return _save(fig, path)


def plot_weight_matrix(W, path, title="Weights"):
    """A heat map of a weight matrix (inputs down, units across), for non-image inputs."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    limit = float(np.abs(W).max()) or 1.0
    im = ax.imshow(
        W, aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    fig.colorbar(im, ax=ax)
    ax.set(title=title, xlabel="unit", ylabel="input")
    _fixed_margins(fig)
    return _save(fig, path)


def plot_weights(W, path, image_shape=None, class_names=None, channels_first=False, linear=False):
    """The right weight picture: class templates (linear on images), tiles (hidden layer on
    images) or a heat map (anything else)."""
    if image_shape is None or W.shape[0] != int(np.prod(image_shape)):
        return plot_weight_matrix(W, path)
    if linear:
        return plot_class_templates(W, image_shape, class_names or [], path, channels_first)
    return plot_weight_grid(W, image_shape, path, channels_first)


def plot_confusion(confusion, class_names, path, title="Confusion matrix"):
    """Counts and row-normalised rates side by side, with class names on both axes."""
    plt = _pyplot()
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    rates = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    n = len(class_names)
    fig, axes = plt.subplots(1, 2, figsize=(7 + 0.5 * n, 4 + 0.25 * n))
    for ax, values, label, fmt in (
        (axes[0], confusion, "counts", "d"),
        (axes[1], rates, "row-normalised", ".2f"),
    ):
        im = ax.imshow(values, cmap="Blues")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set(title=f"{title} ({label})", xlabel="predicted", ylabel="true")
        ax.set_xticks(range(n), class_names, rotation=45, ha="right")
        ax.set_yticks(range(n), class_names)
        if n <= 20:
            threshold = values.max() / 2
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] > threshold else "black")  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def plot_knn_cv(cv_results, path, title="kNN cross-validation"):
    """Accuracy of every fold as points, and the mean with standard-deviation error bars, per k."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    ks = sorted(cv_results)
    for k in ks:
        ax.scatter([k] * len(cv_results[k]), cv_results[k], color="tab:gray", s=12)
    means = [np.mean(cv_results[k]) for k in ks]
    stds = [np.std(cv_results[k]) for k in ks]
    ax.errorbar(ks, means, yerr=stds, color="tab:blue", marker="o", capsize=3, label="mean ± std")
    ax.set(title=title, xlabel="k", ylabel="cross-validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_misclassified(images, y_true, y_pred, class_names, path, per_class=5):
    """For each predicted class, up to per_class test images wrongly given that class."""
    plt = _pyplot()
    n = len(class_names)
    fig, axes = plt.subplots(n, per_class, figsize=(1.4 * per_class + 1.2, 1.4 * n), squeeze=False)
    for c in range(n):
        wrong = np.flatnonzero((y_pred == c) & (y_true != c))[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(wrong):
                img = images[wrong[j]]
                low, high = img.min(), img.max()
                _show(ax, (img - low) / (high - low) if high > low else np.zeros_like(img))
                ax.set_title(f"was {class_names[y_true[wrong[j]]]}", fontsize=6)
        axes[c, 0].text(
            -0.1, 0.5, class_names[c], transform=axes[c, 0].transAxes, ha="right", va="center"
        )
    fig.suptitle("Misclassified test images, by predicted class")
    fig.tight_layout()
    return _save(fig, path)


def _log_spaced(values):
    """Positive numbers spanning at least a factor of 10: shown on a log axis."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 10


def _label(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def plot_sweep_heatmap(keys, params, metrics, path, metric_label="val acc"):
    """The metric over a grid of two swept parameters, each cell annotated. Axes are the
    searched values in order (log-spaced values read as evenly spaced, i.e. a log axis)."""
    plt = _pyplot()
    kx, ky = keys
    xs = sorted({p[kx] for p in params})
    ys = sorted({p[ky] for p in params})
    grid = np.full((len(ys), len(xs)), np.nan)
    for p, m in zip(params, metrics, strict=True):
        grid[ys.index(p[ky]), xs.index(p[kx])] = m
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2.5))
    im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    fig.colorbar(im, ax=ax, label=metric_label)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    log_x, log_y = _log_spaced(xs), _log_spaced(ys)
    ax.set_xlabel(kx + (" (log scale)" if log_x else ""))
    ax.set_ylabel(ky + (" (log scale)" if log_y else ""))
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                color = "black" if grid[i, j] > middle else "white"
                ax.text(
                    j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color=color, fontsize=9
                )
    ax.set_title(f"{metric_label} over the grid")
    fig.subplots_adjust(left=0.18, right=0.98, bottom=0.16, top=0.9)
    return _save(fig, path)


def plot_sweep_scatter(keys, params, metrics, path, metric_label="val acc"):
    """One panel per swept parameter: the metric of every point against its value."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = [p[key] for p in params]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.scatter(values, metrics)
            if values and _log_spaced(values):
                ax.set_xscale("log")
        else:
            labels = sorted({_label(v) for v in values})
            ax.scatter([labels.index(_label(v)) for v in values], metrics)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set(xlabel=key, ylabel=metric_label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{metric_label} against each swept parameter")
    fig.tight_layout()
    return _save(fig, path)


def plot_top_curves(curves, path):
    """Train (dashed) and validation (solid) accuracy per epoch of the top trials;
    curves: list of (label, train_acc list, val_acc list)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (label, train_acc, val_acc) in enumerate(curves):
        color = f"C{i}"
        epochs = np.arange(1, len(train_acc) + 1)
        ax.plot(epochs, val_acc, "-", color=color, label=f"{label} (val)")
        ax.plot(epochs, train_acc, "--", color=color, alpha=0.6)
    ax.set(
        title="Top trials: validation (solid) and training (dashed) accuracy",
        xlabel="epoch",
        ylabel="accuracy",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _fixed_margins(fig)
    return _save(fig, path)


def reconstruction_grid(originals, reconstructions, image_shape, channels_first=False, columns=10):
    """Originals above their reconstructions, tiled into one image.

    Returns (bands * (2H + 3) - 2, columns * (W + 1) - 1, C) float64 in [0, 1].

    Inputs: originals and reconstructions (N, D) flat rows (or (N, H, W, C) images), pair i in
    band i // columns, column i % columns; image_shape (H, W, C). Both are scaled by the
    originals' range to [0, 1] and clipped, so a reconstruction that is too faint or too
    bright looks it (visualize_grid's per-image scaling would hide that). The background
    between tiles is white: one pixel between tiles, three between bands.
    """
    if len(originals) != len(reconstructions):
        raise ValueError(f"{len(originals)} originals but {len(reconstructions)} reconstructions")
    H, W, C = image_shape
    top = rows_as_images(np.reshape(originals, (len(originals), -1)), image_shape, channels_first)
    bottom = rows_as_images(
        np.reshape(reconstructions, (len(reconstructions), -1)), image_shape, channels_first
    )
    low, high = float(top.min()), float(top.max())
    scale = 1.0 / (high - low) if high > low else 1.0
    columns = max(1, min(columns, len(top)))
    bands = math.ceil(len(top) / columns)
    band_height = 2 * H + 3  # original, 1 px, reconstruction, 2 px to the next band
    grid = np.ones((bands * band_height - 2, columns * (W + 1) - 1, C))
    for i in range(len(top)):  # a loop over tiles (a few dozen), not over data
        band, col = divmod(i, columns)
        y0, x0 = band * band_height, col * (W + 1)
        grid[y0 : y0 + H, x0 : x0 + W] = np.clip((top[i] - low) * scale, 0, 1)
        grid[y0 + H + 1 : y0 + 2 * H + 1, x0 : x0 + W] = np.clip((bottom[i] - low) * scale, 0, 1)
    return grid


def plot_reconstructions(
    originals,
    reconstructions,
    image_shape,
    path,
    channels_first=False,
    title="Originals (upper) and their reconstructions (lower)",
):
    """Images beside what an autoencoder made of them: each original above its reconstruction,
    on one shared intensity scale (reconstruction_grid). The code directions themselves (the
    rows of a tied autoencoder's W (m, n)) are plot_weight_grid(W.T, image_shape, path)."""
    plt = _pyplot()
    grid = reconstruction_grid(originals, reconstructions, image_shape, channels_first)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 8 * grid.shape[0] / grid.shape[1])))
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(grid)
    ax.axis("off")
    ax.set_title(title)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.92)
    return _save(fig, path)
