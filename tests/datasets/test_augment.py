"""Augmentation of training batches: every output is a flip or a shifted window of its input."""

import numpy as np
import pytest

from nnctl.datasets.augment import crop, hflip, make_augmenter
from nnctl.errors import ConfigError, DatasetError


def test_hflip_mirrors_about_half(rng):
    images = rng.standard_normal((400, 5, 6, 3)).astype(np.float32)
    out = hflip(images, rng)
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images, strict=True)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, images, strict=True)])
    assert np.all(flipped ^ same)
    assert 0.4 < flipped.mean() < 0.6


def test_crop_is_a_window_of_the_padded_image(rng):
    images = rng.standard_normal((200, 6, 5, 2))
    pad = 2
    out = crop(images, rng, pad=pad)
    assert out.shape == images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = []
    for o, p in zip(out, padded, strict=True):
        [offset] = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(o, p[dy : dy + 6, dx : dx + 5])
        ]
        offsets.append(offset)
    # Each of the 5 x 5 windows is drawn, rows and columns independently (200 draws miss one
    # with a probability below 1%; the seed is fixed).
    assert set(offsets) == {(dy, dx) for dy in range(5) for dx in range(5)}
    np.testing.assert_array_equal(crop(images, rng, pad=0), images)


def test_augmenter_keeps_flattened_and_channels_first_layouts(rng):
    images = rng.standard_normal((8, 4, 4, 3)).astype(np.float32)
    flat = images.reshape(8, -1)
    out = make_augmenter(["hflip"], (4, 4, 3))(flat, np.random.default_rng(1))
    assert out.shape == flat.shape
    expected = hflip(images, np.random.default_rng(1)).reshape(8, -1)
    np.testing.assert_array_equal(out, expected)
    cf = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    out_cf = make_augmenter(["hflip"], (4, 4, 3), channels_first=True)(cf, np.random.default_rng(1))
    np.testing.assert_array_equal(out_cf.transpose(0, 2, 3, 1).reshape(8, -1), expected)


def test_augmenter_errors():
    assert make_augmenter(None, (2, 2, 1)) is None
    with pytest.raises(DatasetError, match="needs image data"):
        make_augmenter(["hflip"], None)
    with pytest.raises(ConfigError, match="unknown augmentation 'rotate'"):
        make_augmenter(["rotate"], (2, 2, 1))
