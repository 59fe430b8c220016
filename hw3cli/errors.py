"""The one exception type that means "the user's input is wrong"."""


class Hw3Error(Exception):
    """Bad input, missing or corrupt files, nonsense options.

    The CLI prints the message as one line on stderr and exits with code 2; library code raises it
    instead of printing, and never with a traceback in mind.
    """

    exit_code = 2


class TrainingDiverged(Hw3Error):
    """A loss became NaN or infinite. The run stops; its folder keeps what it held before (exit code 3)."""

    exit_code = 3


def check_finite(loss, where: str) -> None:
    """Raise TrainingDiverged if a scalar loss tensor is NaN or infinite."""
    value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
    if value != value or value in (float("inf"), float("-inf")):
        raise TrainingDiverged(f"training diverged: the loss became {value} at {where}; nothing was written "
                               "(try a lower --lr)")


class Interrupted(Hw3Error):
    """Training stopped by Ctrl-C (exit code 130) or SIGTERM (143) after saving what can be resumed."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
