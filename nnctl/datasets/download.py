"""Fetching datasets from their canonical public URLs, verified against published checksums.

The table below is the one place URLs live. `base_url` (or $NNCTL_DOWNLOAD_URL) replaces every
URL's folder, so a mirror, or a test's local HTTP server, can serve the same file names.
"""

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nnctl.errors import DatasetError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One file: where it comes from, its published MD5, and the folder under the data root."""

    base_url: str
    filename: str
    md5: str
    folder: str = ""


_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DOWNLOADS = {
    "cifar10": [
        Resource(
            "https://www.cs.toronto.edu/~kriz/",
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
        )
    ],
    "mnist": [
        Resource(_MNIST, "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "mnist"),
        Resource(_MNIST, "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "mnist"),
        Resource(_MNIST, "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "mnist"),
        Resource(_MNIST, "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "mnist"),
    ],
    "fashion-mnist": [
        Resource(
            _FASHION,
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "fashion-mnist",
        ),
        Resource(
            _FASHION,
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            "fashion-mnist",
        ),
        Resource(
            _FASHION,
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            "fashion-mnist",
        ),
        Resource(
            _FASHION,
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "fashion-mnist",
        ),
    ],
}


def md5_of(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(name, root, base_url=None, progress=True, timeout=60):
    """Fetch every file of dataset `name` into root, skipping files already present and intact.

    Each file streams into a temporary file beside its destination and is renamed into place
    only after its MD5 matches; on a mismatch or a broken connection the temporary file is
    deleted and DatasetError says what happened. Returns the list of destination paths.
    """
    if name not in DOWNLOADS:
        raise DatasetError(
            f"{name} cannot be downloaded; downloadable: {', '.join(sorted(DOWNLOADS))}"
        )
    base_url = base_url or os.environ.get("NNCTL_DOWNLOAD_URL")
    paths = []
    for res in DOWNLOADS[name]:
        folder = Path(root) / res.folder
        dest = folder / res.filename
        paths.append(dest)
        if dest.is_file() and md5_of(dest) == res.md5:
            log.info("%s is already present and verified", dest)
            continue
        url = (base_url.rstrip("/") + "/" if base_url else res.base_url) + res.filename
        folder.mkdir(parents=True, exist_ok=True)
        _fetch(url, dest, res.md5, progress, timeout)
    return paths


def _fetch(url, dest, md5, progress, timeout):
    from tqdm import tqdm

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != md5:
            raise DatasetError(
                f"checksum mismatch for {url}: expected MD5 {md5}, got {digest.hexdigest()}; "
                "the partial file was deleted"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DatasetError(f"could not download {url} ({err}); nothing was kept") from None
    finally:
        tmp.unlink(missing_ok=True)
