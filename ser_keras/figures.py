"""Figures: matplotlib on its file backend, and a figure saved atomically.

Every plot the program writes (confusion matrices, curves, the cv and robustness plots, the
timeline, the class counts) is drawn with `pyplot` and written with `save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path

from .files import atomic_path


def pyplot():
    """``(matplotlib.pyplot, seaborn)`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    return plt, sns


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically (`ser_keras.files.atomic_path`) and close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)
