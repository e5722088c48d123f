"""Batched HOG and colour histograms against straightforward per-image references, and the cache."""

import colorsys
import math
from fractions import Fraction

import numpy as np
import pytest

from nnctl.datasets import features, load_dataset
from nnctl.errors import DatasetError


def reference_hog(image, cell=8, bins=9):
    """One image, one pixel at a time: grayscale, [-1, 0, 1] gradients, unsigned 20-degree
    bins, magnitude summed per 8x8 cell and divided by 64."""
    H, W, _ = image.shape
    gray = [
        [0.299 * image[y, x, 0] + 0.587 * image[y, x, 1] + 0.114 * image[y, x, 2] for x in range(W)]
        for y in range(H)
    ]
    hist = np.zeros((H // cell, W // cell, bins))
    for y in range(H // cell * cell):
        for x in range(W // cell * cell):
            gx = gray[y][x + 1] - gray[y][x - 1] if 0 < x < W - 1 else 0.0
            gy = gray[y + 1][x] - gray[y - 1][x] if 0 < y < H - 1 else 0.0
            angle = math.degrees(math.atan2(gy, gx)) % 180.0
            hist[y // cell, x // cell, min(int(angle // (180 / bins)), bins - 1)] += math.hypot(
                gx, gy
            )
    return (hist / (cell * cell)).ravel()


def reference_hue(r, g, b):
    """The HSV hue of one pixel as an exact fraction (the textbook formula)."""
    r, g, b = Fraction(int(r)), Fraction(int(g)), Fraction(int(b))
    maxc, minc = max(r, g, b), min(r, g, b)
    if maxc == minc:
        return Fraction(0)
    delta = maxc - minc
    if maxc == r:
        h = (g - b) / delta
    elif maxc == g:
        h = 2 + (b - r) / delta
    else:
        h = 4 + (r - g) / delta
    return (h / 6) % 1


def reference_color_histogram(image, bins=10):
    counts = np.zeros(bins)
    for pixel in image.reshape(-1, 3):
        counts[min(math.floor(reference_hue(*pixel) * bins), bins - 1)] += 1
    return counts / counts.sum()


@pytest.fixture
def images(rng):
    # Non-square, with a ragged edge (20 is not a multiple of 8), and some grey pixels.
    imgs = rng.integers(0, 256, size=(4, 20, 24, 3)).astype(np.float32)
    imgs[0, :5] = 128
    return imgs


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])  # uint8: how datasets store pixels
def test_hog_matches_per_image_reference(images, dtype):
    got = features.hog(images.astype(dtype))
    assert got.shape == (4, 2 * 3 * 9) and got.dtype == np.float32
    for i, image in enumerate(images):
        np.testing.assert_allclose(got[i], reference_hog(image), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_color_histogram_matches_per_image_reference(images, dtype):
    got = features.color_histogram(images.astype(dtype), bins=7)
    assert got.shape == (4, 7)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-6)
    for i, image in enumerate(images):
        np.testing.assert_allclose(got[i], reference_color_histogram(image, bins=7), atol=1e-6)


def test_hue_of_known_colours_and_colorsys(rng):
    colours = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [90, 90, 90]]]])
    np.testing.assert_allclose(features.hue(colours)[0, 0], [0, 1 / 3, 2 / 3, 1 / 6, 0], atol=1e-12)
    pixels = rng.integers(0, 256, size=(1, 1, 200, 3))
    expected = [colorsys.rgb_to_hsv(*(p / 255.0))[0] for p in pixels[0, 0]]
    np.testing.assert_allclose(features.hue(pixels)[0, 0], expected, atol=1e-12)


def test_extract_concatenates_in_order_and_chunks(images):
    spec = [{"color_histogram": {"bins": 5}}, "hog"]
    out = features.extract(images, spec, chunk_size=3)
    np.testing.assert_array_equal(out[:, :5], features.color_histogram(images, bins=5))
    np.testing.assert_array_equal(out[:, 5:], features.hog(images))
    assert features.extract(images[:0], spec).shape == (0, 5 + 54)


def test_orientation_edges():
    # A gradient pointing straight left (180 degrees) is unsigned 0 degrees: bin 0. One a hair
    # above it (179.999 degrees, gy slightly positive) belongs in the last bin.
    image = np.zeros((1, 8, 8, 1), dtype=np.float32)
    image[0, :, :, 0] = -np.arange(8)  # grey falls to the right: gx = -2 inside
    assert features.hog(image)[0].argmax() == 0
    tilted = image.copy()
    tilted[0, :, :, 0] += 2e-5 * np.arange(8)[:, None]  # gy = +4e-5 inside
    hist = features.hog(tilted)[0]
    assert hist.argmax() == 8  # (border rows have gy = 0 exactly: 180 degrees, bin 0)
    np.testing.assert_allclose(hist, reference_hog_gray(tilted[0, :, :, 0]), rtol=1e-4, atol=1e-6)


def reference_hog_gray(gray, cell=8, bins=9):
    return reference_hog(np.repeat(gray[:, :, None], 3, axis=2), cell, bins)


def test_large_bin_counts_do_not_overflow():
    images = np.full((1, 4, 4, 3), 200, dtype=np.uint8)
    images[..., 2] = 0  # hue 1/6 (yellow) for every pixel
    hist = features.color_histogram(images, bins=600)
    assert hist[0, 100] == 1.0


def test_grayscale_images_get_hog_but_no_colour():
    gray = np.zeros((2, 16, 16, 1))
    assert features.hog(gray).shape == (2, 36)
    with pytest.raises(DatasetError, match="needs RGB images"):
        features.color_histogram(gray)
    with pytest.raises(DatasetError, match="smaller than one 8x8 HOG cell"):
        features.hog(np.zeros((1, 4, 4, 1)))


def test_feature_cache_is_hit_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    calls = []
    real_extract = features.extract

    def counting_extract(images, spec, **kwargs):
        calls.append(len(images))
        return real_extract(images, spec, **kwargs)

    monkeypatch.setattr(features, "extract", counting_extract)
    config = {
        "dataset": "mnist-mini",
        "split": {"train": 300, "val": 50, "test": 40},
        "features": ["hog"],
    }
    first = load_dataset(config, cache_dir=tmp_path)
    assert calls == [300, 50, 40]
    second = load_dataset(config, cache_dir=tmp_path)
    assert calls == [300, 50, 40]  # served from the cache
    np.testing.assert_array_equal(first.X_train, second.X_train)
    [cache_file] = (tmp_path / "features").glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:100])  # truncated: must not be trusted
    third = load_dataset(config, cache_dir=tmp_path)
    assert calls == [300, 50, 40] * 2
    np.testing.assert_array_equal(first.X_train, third.X_train)
    # A different split is a different key.
    load_dataset({**config, "split": {"train": 200, "val": 50, "test": 40}}, cache_dir=tmp_path)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2
    # So are splits of equal sizes at other places: val 50..99, and val 300..349 (capped).
    first_50 = load_dataset(
        {**config, "split": {"train": 50, "val": 50, "test": 40}}, cache_dir=tmp_path
    )
    capped = load_dataset({**config, "subsample": 50}, cache_dir=tmp_path)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 4
    np.testing.assert_array_equal(capped.X_train, first_50.X_train)
    np.testing.assert_array_equal(capped.X_val, first.X_val)  # the first 50 of val 300..349
    assert not np.array_equal(capped.X_val, first_50.X_val)


def test_features_need_images():
    with pytest.raises(DatasetError, match="need an image dataset"):
        load_dataset({"dataset": "blobs", "features": ["hog"]})
