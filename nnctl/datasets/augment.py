"""Data augmentation for training minibatches, vectorised over the batch.

Steps: `hflip` (each image mirrored left-right with probability 0.5) and `crop` with
`{pad: P}` (zero-pad by P pixels on every side, then cut a random window of the original
size). Random draws come from the Generator the training engine passes in.
"""

import numpy as np

from nnctl.errors import DatasetError
from nnctl.registry import Registry, named_options


def hflip(images, rng):
    """images (N, H, W, C): each mirrored along W with probability 0.5."""
    flip = rng.random(len(images)) < 0.5
    out = images.copy()
    out[flip] = images[flip, :, ::-1, :]
    return out


def crop(images, rng, pad=4):
    """images (N, H, W, C): zero-padded by pad, then a random H x W window per image."""
    N, H, W, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy = rng.integers(0, 2 * pad + 1, size=N)
    dx = rng.integers(0, 2 * pad + 1, size=N)
    rows = dy[:, None] + np.arange(H)[None, :]  # (N, H)
    cols = dx[:, None] + np.arange(W)[None, :]  # (N, W)
    return padded[np.arange(N)[:, None, None], rows[:, :, None], cols[:, None, :]]


AUGMENTATIONS = Registry("augmentation", {"hflip": hflip, "crop": crop})


def make_augmenter(spec, image_shape, channels_first=False):
    """A function (X_batch, rng) -> augmented batch for the steps in spec, or None for none.

    X_batch may be flattened or channels-first: it is viewed as (N, H, W, C) images using
    image_shape (H, W, C) and returned in the shape it came in.
    """
    if not spec:
        return None
    if image_shape is None:
        raise DatasetError("augment needs image data; this dataset has no image shape")
    steps = [named_options(item, AUGMENTATIONS) for item in spec]
    H, W, C = image_shape

    def augment(X, rng):
        shape = X.shape
        images = (
            X.reshape(len(X), C, H, W).transpose(0, 2, 3, 1)
            if channels_first
            else X.reshape(len(X), H, W, C)
        )
        for name, options in steps:
            images = AUGMENTATIONS[name](images, rng, **options)
        if channels_first:
            images = images.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(images).reshape(shape)

    return augment
