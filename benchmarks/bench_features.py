"""Image features for 10,000 CIFAR-sized images: nnctl's batched HOG + hue histogram against
(1) the course's per-image implementation, (2) nnctl's own algorithm one image at a time, and
(3) scikit-image's per-image hog. Targets: >= 10x (1), >= 20x (2), >= 5x (3)."""

import numpy as np

from benchmarks import course_features
from benchmarks.harness import compare
from nnctl.datasets.features import extract

N = 10_000
SPEC = ["hog", {"color_histogram": {"bins": 10}}]


def run():
    from skimage.feature import hog

    rng = np.random.default_rng(0)
    images = rng.integers(
        0, 256, size=(N, 32, 32, 3), dtype=np.uint8
    )  # bytes, as CIFAR-10 stores them
    few = images[:2000]  # the per-image loops are slow: timed on 2,000 images, rated per image

    def nnctl_batched(imgs):
        return lambda: extract(imgs, SPEC)

    def skimage_hog():
        gray = few.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        for g in gray:
            hog(
                g,
                orientations=9,
                pixels_per_cell=(8, 8),
                cells_per_block=(1, 1),
                feature_vector=True,
            )

    results = [
        compare("features: batched vs course per-image", nnctl_batched(few), lambda: course_features.extract(few),
                "course", repeats=3, work=len(few), unit="images/s"),
        compare("features: batched vs same algorithm per image", nnctl_batched(few),
                lambda: course_features.nnctl_algorithm_per_image(few), "per-image", repeats=3, work=len(few), unit="images/s"),
        compare("features: batched vs skimage hog per image", nnctl_batched(few), skimage_hog, "skimage", repeats=3,
                work=len(few), unit="images/s"),
    ]  # fmt: skip
    full = compare("features: all 10,000 images (nnctl vs itself)", nnctl_batched(images), nnctl_batched(images),
                   "nnctl", repeats=1, warmup=0, work=N, unit="images/s")  # fmt: skip
    results.append(full)
    return results
