"""Which optional part of the install (``pip install 'ser-keras[EXTRA]'``) provides which module.

The plain install predicts with the shipped model and any exported run (LiteRT, soundfile,
soxr, NumPy, pandas).  Everything else comes in an extra, as ``setup.cfg`` declares them;
a command that meets a missing module names the extra that brings it (`missing_extra`).
"""

from __future__ import annotations

#: The top-level modules each extra installs (its distributions' import names), the extra's own first.
EXTRA_MODULES = {
    "train": (
        "tensorflow",
        "keras",
        "tensorboard",
        "librosa",
        "numba",
        "scipy",
        "sklearn",
        "joblib",
        "threadpoolctl",
        "skops",
        "matplotlib",
        "seaborn",
        "tqdm",
        "yaml",
    ),
    "app": ("streamlit", "matplotlib", "librosa", "numba", "scipy"),
    "dask": ("dask", "distributed"),
}


def missing_extra(exc: BaseException, *, command: str = "") -> str | None:
    """The one line that says which extra a missing module belongs to, or None if it belongs to none.

    Parameters
    ----------
    exc : BaseException
        Typically a ``ModuleNotFoundError``; anything else gives None.
    command : str
        The command that needed it (``"train"``); its own extra is preferred when several
        provide the module (``app`` for matplotlib under ``ser-keras app``).

    Returns
    -------
    message : str or None
        ``"needs the 'train' extra (no module named 'scipy'): pip install 'ser-keras[train]'"``.
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    module = exc.name.partition(".")[0]
    extras = [extra for extra, modules in EXTRA_MODULES.items() if module in modules]
    if not extras:
        return None
    extra = command if command in extras else extras[0]
    return f"needs the '{extra}' extra (no module named '{module}'): pip install 'ser-keras[{extra}]'"
