"""Figures, each a function of saved run files (metrics.json), so re-plotting never retrains."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from hw3cli.core.files import atomic_write_bytes  # noqa: E402


def savefig(fig, path: Path, dpi: int = 110) -> Path:
    """Render a figure to PNG and write it atomically; close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
