"""Downloads against a local HTTP server on 127.0.0.1: success, checksum failure, broken links."""

import functools
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nnctl.datasets import download
from nnctl.datasets.download import Resource
from nnctl.errors import DatasetError


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/served on an ephemeral port of 127.0.0.1; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def table(monkeypatch):
    """Replace the URL table with one small file whose MD5 the test controls."""
    payload = b"nnctl test payload " * 5000

    def use(md5=None):
        resource = Resource(
            "http://unused.invalid/", "blob.bin", md5 or hashlib.md5(payload).hexdigest(), "toy"
        )
        monkeypatch.setitem(download.DOWNLOADS, "toy", [resource])

    return payload, use


def test_download_verifies_and_renames(server, table, tmp_path):
    served, url = server
    payload, use = table
    use()
    (served / "blob.bin").write_bytes(payload)
    root = tmp_path / "data"
    [path] = download.download("toy", root, base_url=url, progress=False)
    assert path == root / "toy" / "blob.bin"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == ["blob.bin"]  # no temporary left
    # A second call finds the verified file and does not fetch again.
    (served / "blob.bin").unlink()
    assert download.download("toy", root, base_url=url, progress=False) == [path]


def test_checksum_mismatch_deletes_the_partial_file(server, table, tmp_path):
    served, url = server
    payload, use = table
    use(md5="0" * 32)
    (served / "blob.bin").write_bytes(payload)
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="checksum mismatch .* the partial file was deleted"):
        download.download("toy", root, base_url=url, progress=False)
    assert list((root / "toy").iterdir()) == []


def test_missing_remote_file_leaves_nothing(server, table, tmp_path):
    _, url = server
    _, use = table
    use()
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="could not download .*blob.bin .*404"):
        download.download("toy", root, base_url=url, progress=False)
    assert list((root / "toy").iterdir()) == []


def test_corrupt_existing_file_is_replaced(server, table, tmp_path):
    served, url = server
    payload, use = table
    use()
    (served / "blob.bin").write_bytes(payload)
    target = tmp_path / "data" / "toy" / "blob.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a download")
    download.download("toy", tmp_path / "data", base_url=url, progress=False)
    assert target.read_bytes() == payload


def test_environment_variable_overrides_urls(server, table, tmp_path, monkeypatch):
    served, url = server
    payload, use = table
    use()
    (served / "blob.bin").write_bytes(payload)
    monkeypatch.setenv("NNCTL_DOWNLOAD_URL", url)
    [path] = download.download("toy", tmp_path, progress=False)
    assert path.read_bytes() == payload


def test_load_with_download_true_fetches_mnist(server, tmp_path, monkeypatch):
    from nnctl.datasets import load_dataset
    from tests.datasets.fakes import write_mnist

    served, url = server
    write_mnist(served, folder=".")
    table = [
        Resource("http://unused.invalid/", f.name, hashlib.md5(f.read_bytes()).hexdigest(), "mnist")
        for f in sorted(served.glob("*.gz"))
    ]
    monkeypatch.setitem(download.DOWNLOADS, "mnist", table)
    monkeypatch.setenv("NNCTL_DOWNLOAD_URL", url)
    splits = load_dataset({"dataset": "mnist", "root": str(tmp_path / "data"), "download": True})
    assert splits.X_train.shape[1:] == (28, 28, 1) and len(splits.X_test) == 10


def test_unknown_download():
    with pytest.raises(
        DatasetError, match="cannot be downloaded; downloadable: cifar10, fashion-mnist, mnist"
    ):
        download.download("spiral", "/tmp", progress=False)


def test_table_covers_the_published_checksums():
    # The MD5s published with the original files (also in ../shared/datasets/README.md).
    md5s = {r.filename: r.md5 for rs in download.DOWNLOADS.values() for r in rs}
    assert md5s["cifar-10-python.tar.gz"] == "c58f30108f718f92721af3b95e74349a"
    assert download.DOWNLOADS["mnist"][0].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
