"""Graceful stops: the first Ctrl-C or SIGTERM asks the training to stop after its current step; a second
Ctrl-C stops at once (the default handler), which is safe because checkpoints are written atomically."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StopRequest:
    def __init__(self):
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)


@contextlib.contextmanager
def graceful_stop(repeat_stops_now: bool = True) -> Iterator[StopRequest]:
    """With `repeat_stops_now`, a second signal gets the previous handler (stop at once); without (under
    torchrun, where every rank gets the terminal's Ctrl-C and torchrun's copy of it), every signal asks for the
    same graceful stop."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be installed from the main thread
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        request.signal = request.signal or signum
        if repeat_stops_now:
            for sig, old in previous.items():  # a second signal gets the old behaviour: stop now
                signal.signal(sig, old)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
