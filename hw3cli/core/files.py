"""The one way this tool opens its inputs and writes its outputs.

Inputs: only regular files are read (a directory, FIFO, device or symbolic-link loop is a one-line error, never a
hang), with a size limit where the format bounds it. Outputs: written atomically (temp file, fsync, rename), never
over anything but a regular file, and, inside `all_or_nothing()`, only once the whole command has succeeded.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hw3cli.errors import Hw3Error

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def where(path: str | os.PathLike) -> str:
    """A path as the user gave it, with the folder a relative path is taken from."""
    path = Path(path)
    return str(path) if path.is_absolute() else f"{path} (relative to the current folder {Path.cwd()})"


def _mode(path: Path, what: str) -> int:
    """The file type and mode of what `path` names (links followed); a one-line error if there is nothing."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        raise Hw3Error(f"{what} not found: {where(path)}") from None
    except OSError as exc:
        reason = "a loop of symbolic links" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise Hw3Error(f"cannot read {what} {path}: {reason}") from None


# Every file the running command has opened as an input: it never writes an output over one of them.
_read: contextvars.ContextVar[set | None] = contextvars.ContextVar("inputs_read", default=None)


@contextlib.contextmanager
def tracking_inputs() -> Iterator[None]:
    """One command (the CLI wraps each in this): the files it reads are remembered and never written over."""
    token = _read.set(set())
    try:
        yield
    finally:
        _read.reset(token)


# The folders this command holds locked (their open descriptors), released when it ends.
_locks: contextvars.ContextVar[list | None] = contextvars.ContextVar("locks_held", default=None)


@contextlib.contextmanager
def holding_locks() -> Iterator[None]:
    """One command (the CLI wraps each in this): the folders it locks stay locked until it ends, however it ends.
    A process that dies loses its locks with its descriptors, so a killed run never blocks the next start."""
    token = _locks.set([])
    try:
        yield
    finally:
        for fd, folder in _locks.get():
            with contextlib.suppress(OSError):  # made for the lock and left empty (a run refused early): not kept,
                if os.stat(folder).st_ino == os.fstat(fd).st_ino:  # unless another process has made it anew since
                    folder.rmdir()
            os.close(fd)
        _locks.reset(token)


def lock_folder(folder: Path, what: str) -> None:
    """Make `folder` if need be and hold an exclusive lock (flock) on it for the rest of the command; a folder
    another process holds is a one-line error naming that process."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise Hw3Error(f"{what}: cannot use {folder} ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):  # a file system without flock: nothing to hold
            os.close(fd)
            return
        holder = _lock_holder(os.fstat(fd).st_ino)
        os.close(fd)
        raise Hw3Error(f"{what} is being written by another process{f' (pid {holder})' if holder else ''}, which "
                       f"holds {folder}; wait for it to end, or choose another --out") from None
    held = _locks.get()
    if held is not None:
        held.append((fd, folder))  # else (a library caller) held until the process ends


def _lock_holder(inode: int) -> str | None:
    """The pid holding a flock on `inode`, from /proc/locks (Linux), or None."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF": pid, then device:inode
        parts = line.split()
        for pid, where in zip(parts, parts[1:]):
            if "FLOCK" in parts and "->" not in parts and pid.isdigit() and where.endswith(f":{inode}"):
                return pid
    return None


def rewritable(path: str | os.PathLike) -> None:
    """`path` was read, and is the command's own to write again (a resumed run's progress file)."""
    if _read.get() is not None:
        _read.get().discard(os.path.realpath(path))


def input_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` if it is a regular file (after following links); otherwise a one-line error saying what it is."""
    path = Path(path)
    mode = _mode(path, what)
    if not stat.S_ISREG(mode):
        raise Hw3Error(f"{what} {path} is {_kind(mode)}, not a regular file")
    if _read.get() is not None:
        _read.get().add(os.path.realpath(path))
    return path


def input_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """`path` if it is a folder; otherwise a one-line error."""
    path = Path(path)
    mode = _mode(path, what)
    if not stat.S_ISDIR(mode):
        raise Hw3Error(f"{what} {path} is {_kind(mode) if not stat.S_ISREG(mode) else 'a file'}, not a folder")
    return path


def open_input(path: str | os.PathLike, what: str = "file") -> BinaryIO:
    """A regular file opened for reading in binary."""
    path = input_file(path, what)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise Hw3Error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def read_input(path: str | os.PathLike, what: str = "file", limit: int | None = None) -> bytes:
    """A regular file's bytes; one that is larger than `limit` is refused before it is read."""
    with open_input(path, what) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if limit is not None and size > limit:
                raise Hw3Error(f"{what} {path} is {size:,} bytes, more than the {limit:,} such a file can hold")
            return handle.read()
        except OSError as exc:
            raise Hw3Error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_target(path: str | os.PathLike) -> Path:
    """Where an output file goes: `path`, or the regular file a symbolic link at `path` points to. Anything else
    already there (a folder, a device such as /dev/null, a FIFO) is refused: a rename would replace it."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise Hw3Error(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise Hw3Error(f"cannot write {path}: it is a symbolic link to nothing") from None
        except OSError as exc:
            reason = "a loop of symbolic links" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            raise Hw3Error(f"cannot write {path}: {reason}") from None
        path = Path(os.path.realpath(path))
    if not stat.S_ISREG(mode):
        raise Hw3Error(f"refusing to write {path}: it is {_kind(mode)}, which only a regular file may replace")
    if os.path.realpath(path) in (_read.get() or ()):
        raise Hw3Error(f"refusing to write {path}: this command reads it; give the output another name")
    return path


_held: contextvars.ContextVar[list | None] = contextvars.ContextVar("held_writes", default=None)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Hold back every `atomic_write_bytes` inside until the block has finished without an error, then write
    them all; an error anywhere in the block writes nothing. For commands with several output files."""
    if _held.get() is not None:  # inside another such block: its files are written with the outer block's
        yield
        return
    held: list[tuple[Path, Any]] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
    temps, path = [], None
    try:
        for path, data in held:
            temps.append((_write_temp(path, data), path))
        for tmp, path in temps:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise Hw3Error(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_temp(path: Path, data: bytes | list) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for part in data if isinstance(data, list) else [data]:
                handle.write(part)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes | list) -> Path:
    """Write `data` (or a list of buffers, one after the other) to a temp file beside `path`, fsync it, then
    rename it over `path` (see `output_target` for what may be there). Inside `all_or_nothing()` the write is
    held back until the block succeeds."""
    path = output_target(path)
    held = _held.get()
    if held is not None:
        if any(path == other for other, _ in held):
            raise Hw3Error(f"{path} would be written twice by one command; give the outputs different names")
        held.append((path, data))
        return path
    try:
        os.replace(_write_temp(path, data), path)
    except OSError as exc:
        raise Hw3Error(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    # "replace": a lone surrogate read from a damaged JSON file cannot be written as UTF-8
    return atomic_write_bytes(path, text.encode("utf-8", errors="replace"))


def download(url: str, target: Path, algorithm: str, expected: str, offline_hint: str) -> Path:
    """`url` saved as `target` once its `algorithm` digest (hashlib's name) is `expected`: it is fetched beside it
    (target.part) and moved into place only whole and matching, so a failed, cut or corrupt download leaves
    nothing. A failure is one line; `offline_hint` says what to do instead."""
    import hashlib
    import http.client
    import urllib.error
    import urllib.request

    partial = target.with_name(target.name + ".part")
    digest = hashlib.new(algorithm)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            announced, received = response.headers.get("Content-Length"), 0
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
                received += len(block)
            if announced and announced.isdigit() and received != int(announced):  # closed mid-file
                raise OSError(f"the server sent {received:,} of its {int(announced):,} bytes")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:  # IncompleteRead: cut
        partial.unlink(missing_ok=True)
        raise Hw3Error(f"cannot download {url} ({' '.join(str(exc).split())[:160]}); offline? {offline_hint}") from None
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        name = {"sha256": "SHA-256", "md5": "MD5"}.get(algorithm, algorithm)
        raise Hw3Error(f"the download of {url} does not match its published {name} checksum; nothing was kept")
    os.replace(partial, target)
    return target


JSON_INT_DIGITS = 4300  # Python's json refuses longer integers (sys.int_info.default_max_str_digits)


def json_text(obj: Any, indent: int | None = 2) -> str:
    """`obj` as JSON that every reader parses at its default limits (Python's json, jq, browsers): a NaN or an
    infinity is written as null, with a sibling key "<key>_is" saying which it was ("NaN", "Infinity",
    "-Infinity"; for a list, the first one it held); an integer of more than 4,300 digits is written as a string of
    its decimal digits."""
    return json.dumps(_strict(obj), indent=indent, sort_keys=False, allow_nan=False)


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * JSON_INT_DIGITS:
        if abs(value) >= 10 ** JSON_INT_DIGITS:
            return _digits(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _strict(item)
            lost = _non_finite(item)
            if lost and f"{key}_is" not in value:
                out[f"{key}_is"] = lost
        return out
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def _non_finite(value: Any) -> str | None:
    """What a value written as null was: its own non-finite float, or the first one of a list of numbers."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN" if item != item else ("Infinity" if item > 0 else "-Infinity")
    return None


def _digits(value: int) -> str:
    if not hasattr(sys, "get_int_max_str_digits"):  # Python before 3.10.7 has no limit
        return str(value)
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(value)
    finally:
        sys.set_int_max_str_digits(limit)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json_text(obj) + "\n")


JSON_LIMIT = 256 * 2**20  # this tool's largest JSON file (a 180,000-step loss history) is about 12 MB


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = Path(path)
    raw = read_input(path, what, JSON_LIMIT)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON, or an integer of 4,300+ digits
        raise Hw3Error(f"{what} is not valid JSON: {path} ({' '.join(str(exc).split())[:200]})") from None


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Build a whole output folder in a temp folder beside `path`; on success swap it into place.

    On any error the temp folder is removed and whatever was at `path` before is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise Hw3Error(f"cannot create output folder {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
