"""Data from anywhere: `hw3cli data` finds both data sets or fetches what is missing. The downloads are tested
against a server on 127.0.0.1 (nothing leaves the machine): a good download, a corrupt one (its checksum does not
match: one line, nothing left in the cache) and a server that closes mid-file."""

import contextlib
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from hw3cli.data import fashion_mnist, imdb
from tests.conftest import assert_usage_error, synthetic_fashion


@contextlib.contextmanager
def serving(files: dict[str, bytes], cut: set[str] = frozenset()):
    """A loopback HTTP server of `files`; a name in `cut` announces its full length but sends half, then closes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            name = self.path.lstrip("/")
            if name not in files:
                self.send_error(404)
                return
            body = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if name in cut else body)
            if name in cut:
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def fashion_files(tmp_path: Path) -> dict[str, bytes]:
    """The four files as the mirror serves them: gzipped IDX."""
    folder = synthetic_fashion(tmp_path / "synthetic", n_train=64, n_test=16)
    return {p.name if p.suffix == ".gz" else p.name + ".gz": p.read_bytes() if p.suffix == ".gz" else
            gzip.compress(p.read_bytes(), mtime=0) for p in folder.iterdir()}


def point_fashion_at(monkeypatch, url: str, files: dict[str, bytes], corrupt: str | None = None) -> None:
    from torchvision.datasets import FashionMNIST

    monkeypatch.setattr(FashionMNIST, "mirrors", [url])
    sums = [(name, hashlib.md5(b"other" if name == corrupt else files[name]).hexdigest())
            for name, _ in FashionMNIST.resources]
    monkeypatch.setattr(FashionMNIST, "resources", sums)


def imdb_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split in ("train", "test"):
            for label, text in (("pos", b"A superb film."), ("neg", b"Dreadful.")):
                for i in range(3):
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_7.txt")
                    info.size = len(text)
                    tar.addfile(info, io.BytesIO(text))
    return buffer.getvalue()


def fetch_all(cli, cache: Path):
    """hw3cli data --download into `cache`, both data sets missing."""
    return cli("data", "--imdb-source", cache / "aclImdb_v1.tar.gz", "--cache-dir", cache, "--fashion-dir",
               cache / "fashion-mnist", "--download")


def test_the_data_step_names_what_is_missing_and_the_ways_to_supply_it(cli, tmp_path):
    r = cli("data", "--fashion-dir", tmp_path / "nowhere", "--imdb-source", tmp_path / "no-imdb",
            "--cache-dir", tmp_path / "cache")
    assert_usage_error(r, "Fashion-MNIST", "IMDB", "DOWNLOAD=1", "FMNIST_DIR", "IMDB_SOURCE", "--download")
    assert not (tmp_path / "cache").exists()


def test_a_good_download_fills_the_cache_and_the_data_step_finds_it(cli, tmp_path, monkeypatch):
    files, tarball = fashion_files(tmp_path), imdb_tarball()
    with serving({**files, "aclImdb_v1.tar.gz": tarball}) as url:
        point_fashion_at(monkeypatch, url, files)
        monkeypatch.setattr(imdb, "ACLIMDB_URL", url + "aclImdb_v1.tar.gz")
        monkeypatch.setattr(imdb, "ACLIMDB_SHA256", hashlib.sha256(tarball).hexdigest())
        cache = tmp_path / "cache"
        r = fetch_all(cli, cache)
        assert r.code == 0, r.err
    assert sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(files)
    assert (cache / "aclImdb_v1.tar.gz").read_bytes() == tarball
    assert fashion_mnist.load_fashion_mnist(cache / "fashion-mnist").train_images.shape == (64, 28, 28)
    again = cli("data", "--imdb-source", cache / "aclImdb_v1.tar.gz", "--cache-dir", cache, "--fashion-dir",
                cache / "fashion-mnist")  # found without --download: nothing is fetched twice
    assert again.code == 0 and str(cache / "fashion-mnist") in again.out


@pytest.mark.parametrize("what", ["fashion", "imdb"])
def test_a_corrupt_download_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch, what):
    files, tarball = fashion_files(tmp_path), imdb_tarball()
    with serving({**files, "aclImdb_v1.tar.gz": tarball}) as url:
        point_fashion_at(monkeypatch, url, files, corrupt="t10k-labels-idx1-ubyte.gz" if what == "fashion" else None)
        monkeypatch.setattr(imdb, "ACLIMDB_URL", url + "aclImdb_v1.tar.gz")
        monkeypatch.setattr(imdb, "ACLIMDB_SHA256", "0" * 64 if what == "imdb" else hashlib.sha256(tarball).hexdigest())
        cache = tmp_path / "cache"
        r = fetch_all(cli, cache)
    assert_usage_error(r, "MD5 checksum" if what == "fashion" else "SHA-256 checksum")
    if what == "fashion":
        assert not (cache / "fashion-mnist").exists() or not any((cache / "fashion-mnist").iterdir())
    else:
        assert not (cache / "aclImdb_v1.tar.gz").exists()
    assert not list(cache.rglob("*.part")) and not list(cache.rglob(".download-*"))


@pytest.mark.parametrize("what", ["fashion", "imdb"])
def test_a_server_that_closes_mid_file_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch, what):
    files, tarball = fashion_files(tmp_path), imdb_tarball()
    cut = {"train-images-idx3-ubyte.gz"} if what == "fashion" else {"aclImdb_v1.tar.gz"}
    with serving({**files, "aclImdb_v1.tar.gz": tarball}, cut) as url:
        point_fashion_at(monkeypatch, url, files)
        monkeypatch.setattr(imdb, "ACLIMDB_URL", url + "aclImdb_v1.tar.gz")
        monkeypatch.setattr(imdb, "ACLIMDB_SHA256", hashlib.sha256(tarball).hexdigest())
        cache = tmp_path / "cache"
        r = fetch_all(cli, cache)
    assert_usage_error(r, "cannot download", "offline?")
    assert not list(cache.rglob("*.part")) and not list(cache.rglob(".download-*"))
    if what == "fashion":
        assert not (cache / "fashion-mnist").exists() or not any((cache / "fashion-mnist").iterdir())
    else:
        assert not (cache / "aclImdb_v1.tar.gz").exists()


def test_the_makefile_never_calls_apt_get_and_passes_the_data_paths(tmp_path):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["make", "-n", "-B", "all", f"ART={tmp_path}/art", "FMNIST_DIR=/data/fm",
                          "IMDB_SOURCE=/data/imdb.tar.gz", "DOWNLOAD=1", f"DATA_DIR={tmp_path}/cache"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "apt-get" not in out.stdout
    text = out.stdout.replace("\\\n", " ")
    assert (f"data --fashion-dir /data/fm --imdb-source /data/imdb.tar.gz --cache-dir {tmp_path}/cache "
            "--download") in text
    assert "preprocess --data /data/imdb.tar.gz" in text
    gan_lines = [line for line in text.splitlines() if " train-gan " in line and "--dataset" not in line]
    assert gan_lines and all("--data /data/fm" in line for line in gan_lines)
