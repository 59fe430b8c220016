"""A second worker for CPU-bound work that threads cannot share: Python code and byte methods hold the GIL
(measured: two threads tokenising IMDB's two files took as long as one thread doing both).

`Helper(work, *args)` runs `work(channel, *args)` in a forked process (a thread where fork is not available or
not safe: Windows, macOS), which starts with a copy of the caller's memory; `mmap.mmap(-1, n)` buffers made
before it starts are shared both ways. The two sides talk through `send` and `recv`. An error in the helper
reaches the caller's `recv` as the same Hw3Error (other exceptions as a RuntimeError naming them); leaving the
`with` block early stops the helper.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from hw3cli.errors import Hw3Error


class _Failure:
    def __init__(self, error: BaseException):
        self.user_error = isinstance(error, Hw3Error)
        self.text = str(error) if self.user_error else "".join(traceback.format_exception_only(error)).strip()


def forking() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class Helper:
    def __init__(self, work: Callable[..., None], *args: Any):
        self._channel, theirs = multiprocessing.Pipe()
        if forking():
            self._worker = multiprocessing.get_context("fork").Process(target=_serve, args=(work, theirs, args, True),
                                                                       daemon=True)
            with warnings.catch_warnings():
                # Python 3.12+ warns when a process with threads (torch's pools, after training in the same
                # process) forks: a lock held by one of them stays locked in the child. The helper's work is
                # numpy and byte methods, which take none of those locks.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._worker.start()
            theirs.close()  # so that recv sees the end of the pipe if the helper dies without a word
        else:
            self._worker = threading.Thread(target=_serve, args=(work, theirs, args, False), daemon=True)
            self._worker.start()

    def send(self, message: Any) -> None:
        self._channel.send(message)

    def recv(self) -> Any:
        try:
            message = self._channel.recv()
        except EOFError:
            raise RuntimeError("the helper process ended without an answer") from None
        if isinstance(message, _Failure):
            raise Hw3Error(message.text) if message.user_error else RuntimeError(f"in the helper: {message.text}")
        return message

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc_info) -> None:
        if isinstance(self._worker, threading.Thread):
            self._channel.close()  # a thread waiting in recv sees the pipe end
        elif self._worker.is_alive() and exc_info[0] is not None:
            self._worker.kill()
        self._worker.join()
        self._channel.close()


def _serve(work: Callable[..., None], channel: Connection, args: tuple, process: bool) -> None:
    if process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the caller acts
    try:
        work(channel, *args)
    except BaseException as error:  # noqa: BLE001 - everything goes back to the caller
        with contextlib.suppress(OSError):  # unless the caller has left
            channel.send(_Failure(error))
    finally:
        channel.close()
