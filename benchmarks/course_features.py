"""Per-image feature extraction the way the course's features exercise does it, for speed
comparisons only: one image at a time, the HOG cell histograms by a box filter per
orientation bin, the hue histogram through matplotlib's rgb_to_hsv and np.histogram.

Written here from the algorithm's description; nnctl's own features are batched
(nnctl/datasets/features.py).
"""

import numpy as np
from scipy.ndimage import uniform_filter


def hog_feature(image, orientations=9, cell=8):
    image = image.astype(np.float64)
    gray = image @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image
    gx = np.zeros(gray.shape)
    gy = np.zeros(gray.shape)
    gx[:, :-1] = np.diff(gray, n=1, axis=1)
    gy[:-1, :] = np.diff(gray, n=1, axis=0)
    magnitude = np.sqrt(gx**2 + gy**2)
    angle = np.arctan2(gy, gx + 1e-15) * (180 / np.pi) + 90
    n_y, n_x = gray.shape[0] // cell, gray.shape[1] // cell
    hist = np.zeros((n_y, n_x, orientations))
    width = 180 / orientations
    for i in range(orientations):
        in_bin = (angle >= width * i) & (angle < width * (i + 1))
        mag = np.where(in_bin, magnitude, 0)
        hist[:, :, i] = uniform_filter(mag, size=(cell, cell))[
            cell // 2 :: cell, cell // 2 :: cell
        ][:n_y, :n_x]
    return hist.ravel()


def color_histogram_hsv(image, bins=10):
    from matplotlib.colors import rgb_to_hsv

    hue = rgb_to_hsv(image / 255.0)[:, :, 0] * 255.0
    hist, edges = np.histogram(hue, bins=np.linspace(0, 255, bins + 1), density=True)
    return hist * np.diff(edges)


def extract(images):
    return np.array([np.concatenate([hog_feature(im), color_histogram_hsv(im)]) for im in images])


def nnctl_algorithm_per_image(images):
    """nnctl's exact algorithm, called on one image at a time: the 'per-image Python loop
    over the same algorithm' of the datasets issue."""
    from nnctl.datasets.features import color_histogram, hog

    return np.array(
        [np.concatenate([hog(im[None])[0], color_histogram(im[None])[0]]) for im in images]
    )
