"""Model files a user may have been handed: bounded before they are read, checked after.

A run folder can come from anyone, so its model files are treated like any other input:

* **No code runs.**  scikit-learn models are skops files (a schema, not a pickle) loaded with
  the types a run of *that* model can hold and no others (`trusted_types`); Keras models load
  in safe mode, so a ``Lambda`` layer is refused.
* **Nothing inflates.**  Both are zip archives.  Before a member is read, its declared size is
  checked against what ``run.json`` implies (`estimator_byte_limit`, `KERAS_LIMITS`), a ``.npy``
  member's header against its declared size, and an HDF5 weights file's datasets against the
  bytes it actually holds (`check_archive`, `check_weights`).  Python's ``zipfile`` never
  inflates a member past its declared size, so these bounds hold for what is read too.
* **What loads is what ``run.json`` says.**  A loaded estimator's pipeline must have the steps
  the run's model builds, and every fitted array the shape the run's features and labels imply
  (`check_estimator`): scikit-learn's compiled code indexes by those arrays without bounds
  checks, so an inconsistent one could make it read out of bounds.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..files import require_regular_file
from ..layout import RUN_FILE

#: The largest JSON member of a model archive that is read (skops's ``schema.json``, Keras's ``config.json``).
MAX_JSON_MEMBER = 16 * 1024 * 1024
#: Keras archives: the members a ``model.keras`` holds, each with the most bytes it may declare.
KERAS_LIMITS = {
    "metadata.json": 1024 * 1024,
    "config.json": MAX_JSON_MEMBER,
    "model.weights.h5": 1024 * 1024 * 1024,
}
#: The most members a model archive may list.
MAX_MEMBERS = 10_000

PICKLE_REFUSAL = (
    "a pickle, which can run any code when loaded; ser-keras does not load pickles "
    "(retrain the run: scikit-learn models are saved as model.skops)"
)

#: Types outside skops's default trust, by the model whose pipelines hold them: the column
#: weighting function of the group-balanced logistic regression, the MLP's optimisers.
#: kNN is fitted by brute force, so its search trees (whose index arrays cannot be checked) are
#: never trusted.
EXTRA_TRUSTED = {
    "logreg": ("ser_keras.training.fit_sklearn.scale_columns",),
    "mlp": (
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    ),
}
#: The gender classifier of a ``--gender all`` group: `ser_keras.training.gender.fit_gender_classifier`.
GENDER_CLASSIFIER = "gender classifier"


def trusted_types(model: str) -> list[str]:
    """The types outside skops's default trust that a run of ``model`` may hold."""
    return list(EXTRA_TRUSTED.get(model, ()))


def check_archive(path: Path, limits: dict[str, int] | int, *, total: int | None = None) -> None:
    """Refuse a zip archive whose members declare more bytes than allowed, before any is read.

    Parameters
    ----------
    path : Path
        The archive.
    limits : dict of str to int, or int
        The most bytes each member may declare: by member name (a member not named is refused),
        or one bound for every member.
    total : int, optional
        The most bytes all members together may declare.

    Raises
    ------
    ParameterError
        Not a zip archive, too many members, an unexpected member, or a member (or the sum)
        over its bound; naming the file and the member.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParameterError(f"{path}: damaged model file (not a zip archive: {exc})") from None
    if len(members) > MAX_MEMBERS:
        raise ParameterError(f"{path}: refused: {len(members)} archive members (at most {MAX_MEMBERS})")
    declared = 0
    for member in members:
        bound = limits.get(member.filename) if isinstance(limits, dict) else limits
        if bound is None:
            raise ParameterError(f"{path}: refused: unexpected archive member {member.filename!r:.60}")
        if member.file_size > bound:
            raise ParameterError(
                f"{path}: refused: member {member.filename!r:.60} inflates to {member.file_size:,} bytes, "
                f"more than a model of this run can hold ({bound:,})"
            )
        declared += member.file_size
    if total is not None and declared > total:
        raise ParameterError(
            f"{path}: refused: its members inflate to {declared:,} bytes, more than a model of this run "
            f"can hold ({total:,})"
        )


def check_npy_members(path: Path) -> None:
    """Refuse a skops archive whose ``.npy`` members' headers promise more data than they declare.

    `numpy.load` allocates what a header says before it reads; each header is read (a few hundred
    bytes) and its shape times item size compared with the member's declared size.

    Raises
    ------
    ParameterError
        A header that is damaged, holds Python objects, or promises more bytes than the member has.
    """
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if not member.filename.endswith(".npy"):
                continue
            with archive.open(member) as handle:
                try:
                    version = npy.read_magic(handle)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"unsupported .npy version {version}")
                    reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    shape, _, dtype = reader(handle, max_header_size=10_000)
                except (ValueError, SyntaxError, EOFError, TypeError) as exc:
                    raise ParameterError(f"{path}: damaged model file ({member.filename}: {exc})") from None
                if dtype.hasobject:
                    raise ParameterError(f"{path}: refused: {member.filename} holds Python objects")
                needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if needed > member.file_size:
                    raise ParameterError(
                        f"{path}: refused: {member.filename} claims {needed:,} bytes of data but holds "
                        f"{member.file_size:,}"
                    )


def estimator_byte_limit(*, n_features: int, n_labels: int, n_rows: int) -> int:
    """The most bytes a fitted baseline pipeline's arrays may take, from what ``run.json`` records.

    The largest arrays are kNN's training rows and an SVM's support vectors (at most ``n_rows``
    rows of ``n_features``) and the MLP's (256, 128) layers; float64 throughout, plus 1 MiB for
    the schema and the small arrays.
    """
    return 8 * (n_rows + n_labels + 400) * (n_features + 400) + (1 << 20)


def save_estimator(estimator: object, path: str | os.PathLike) -> Path:
    """Save a fitted scikit-learn estimator as a skops file (no pickle), atomically."""
    import skops.io as sio

    from ..files import atomic_path

    with atomic_path(path) as tmp:
        sio.dump(estimator, tmp)
    return Path(path)


def load_estimator(path: str | os.PathLike, *, model: str, n_features: int, n_labels: int, n_rows: int = 0):
    """A scikit-learn pipeline from a skops file, bounded, trusted and checked against ``run.json``.

    skops reads a schema, not a pickle: no code in the file runs.  The archive is bounded first
    (`check_archive`, `check_npy_members`), a file naming a type outside scikit-learn's, NumPy's
    and ``model``'s own (`trusted_types`) is refused, and the loaded pipeline is checked
    (`check_estimator`).

    Parameters
    ----------
    path : path
    model : str
        The run's ``model`` (a scikit-learn baseline), or `GENDER_CLASSIFIER`.
    n_features : int
        Columns of the rows it scores.
    n_labels : int
        Classes it may predict (``run.json``'s labels; 2 for the gender classifier).
    n_rows : int
        Rows it was fitted on, at most (``run.json``'s ``n``).

    Raises
    ------
    ParameterError
        Missing, a pickle, damaged, too large, holding an untrusted type, or not a model of this
        run; naming the file.
    """
    import skops.io as sio

    path = Path(path)
    require_regular_file(path, what="model file")
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80" or path.suffix.lower() in (".joblib", ".pkl", ".pickle"):
        raise ParameterError(f"{path}: {PICKLE_REFUSAL}")
    limit = estimator_byte_limit(n_features=n_features, n_labels=n_labels, n_rows=n_rows)
    check_archive(path, limit, total=limit)
    check_npy_members(path)
    trusted = trusted_types(model)
    try:
        untrusted = [name for name in sio.get_untrusted_types(file=path) if name not in trusted]
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a bad schema: all mean a damaged file
        raise ParameterError(f"{path}: damaged model file ({type(exc).__name__}: {exc})") from None
    ours = [name for name in untrusted if name.startswith("ser_keras.")]
    if ours:  # a name of ours that has moved: an earlier version's run, not a hostile one
        raise ParameterError(
            f"{path}: saved by an earlier ser-keras (it names {ours[0]}, which has moved); retrain the run"
        )
    if untrusted:
        raise ParameterError(f"{path}: refused: it holds types ser-keras does not trust ({', '.join(untrusted[:3])})")
    try:
        estimator = sio.load(path, trusted=trusted)
    except Exception as exc:  # noqa: BLE001
        raise ParameterError(f"{path}: damaged model file ({type(exc).__name__}: {exc})") from None
    try:
        check_estimator(estimator, model=model, n_features=n_features, n_labels=n_labels)
    except LabelMismatch as exc:
        raise ParameterError(f"{path.parent / RUN_FILE}: {exc} ({path.name})") from None
    except ParameterError as exc:
        raise ParameterError(f"{path}: refused: not a {model} model of this run ({exc})") from None
    return estimator


def expected_steps(model: str) -> list[tuple[type, ...]]:
    """The classes of the pipeline steps a run of ``model`` holds: one tuple of choices per step."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if model == GENDER_CLASSIFIER:
        return [(StandardScaler,), (LogisticRegression,)]
    from types import SimpleNamespace

    from ..models import get_spec

    spec = get_spec(model)
    if spec.is_keras:
        raise ParameterError(f"a {model} run is a Keras model, not a scikit-learn one")
    final = type(spec.estimator(SimpleNamespace(C=None, class_weight=None, lr=1e-3, epochs=1, seed=0)))
    if spec.group_balance:
        return [(StandardScaler,), (FunctionTransformer, final), (final,)]
    return [(StandardScaler,), (final,)]


def check_estimator(estimator, *, model: str, n_features: int, n_labels: int) -> None:
    """Check a loaded pipeline's steps and every fitted array against the run it claims to be.

    Raises
    ------
    ParameterError
        The first step, attribute or shape that a fitted ``model`` of ``n_features`` columns and
        ``n_labels`` classes cannot have.
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        raise ParameterError(f"expected a pipeline, got {type(estimator).__name__}")
    steps = [step for _, step in estimator.steps]
    expected = expected_steps(model)
    if len(steps) == len(expected) - 1 and len(expected) == 3:  # group balance off: no column weights
        expected = [expected[0], expected[2]]
    if len(steps) != len(expected) or any(type(s) not in kinds for s, kinds in zip(steps, expected)):
        got = " -> ".join(type(s).__name__ for s in steps)
        raise ParameterError(f"its pipeline is {got:.80}")
    for step in steps:
        _check_arrays(step)
        CHECKS[type(step).__name__](step, n_features=n_features, n_labels=n_labels)


def _is_names(value: np.ndarray) -> bool:
    """Class names: text, as a text array or an object array of ``str`` (how skops loads them)."""
    return value.dtype.kind == "U" or (value.dtype.kind == "O" and all(isinstance(v, str) for v in value.flat))


def _check_arrays(step) -> None:
    for name, value in vars(step).items():
        if name == "classes_" and isinstance(value, np.ndarray) and _is_names(value):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
            raise ParameterError(f"{type(step).__name__}.{name} holds {value.dtype} values")
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ParameterError(f"{type(step).__name__}.{name} holds non-finite values")


def _shape(step, name: str, shape: tuple) -> np.ndarray:
    value = getattr(step, name, None)
    if not isinstance(value, np.ndarray) or value.shape != shape:
        got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        raise ParameterError(f"{type(step).__name__}.{name} is {got}, expected {shape}")
    return value


class LabelMismatch(ParameterError):
    """A model predicting more classes than ``run.json`` names: the run file's fault as much as the model's."""


def _classes(step, *, n_labels: int) -> np.ndarray:
    classes = getattr(step, "classes_", None)
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or not len(classes):
        raise ParameterError(f"{type(step).__name__}.classes_ is not a list of classes")
    if classes.dtype.kind in "iu" and (classes.min() < 0 or classes.max() >= n_labels):
        raise LabelMismatch(f"labels has {n_labels} names, but the model predicts class {int(classes.max())}")
    if len(classes) > n_labels:
        raise LabelMismatch(f"labels has {n_labels} names, but the model predicts {len(classes)} classes")
    if not (classes.dtype.kind in "iu" or _is_names(classes)) or len(set(classes.tolist())) != len(classes):
        raise ParameterError(f"{type(step).__name__}.classes_ is not distinct class names or indices")
    return classes


def _n_in(step, n_features: int) -> None:
    if getattr(step, "n_features_in_", None) != n_features:
        raise ParameterError(
            f"{type(step).__name__} takes {getattr(step, 'n_features_in_', None)} columns, the run's features "
            f"have {n_features}"
        )


def _scaler(step, *, n_features: int, n_labels: int) -> None:
    _n_in(step, n_features)
    for name in ("mean_", "scale_", "var_"):
        _shape(step, name, (n_features,))


def _weights(step, *, n_features: int, n_labels: int) -> None:
    func = step.func  # skops loads only the trusted name (`EXTRA_TRUSTED`); this checks that it is that one
    named = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}"
    if named not in EXTRA_TRUSTED["logreg"] or set(step.kw_args or {}) != {"weights"} or step.inverse_func is not None:
        raise ParameterError("FunctionTransformer is not the column weighting")
    weights = step.kw_args["weights"]
    if not isinstance(weights, np.ndarray) or weights.shape != (n_features,) or not np.isfinite(weights).all():
        raise ParameterError(f"the column weights are not {n_features} finite numbers")


def _logistic(step, *, n_features: int, n_labels: int) -> None:
    _n_in(step, n_features)
    k = len(_classes(step, n_labels=n_labels))
    rows = 1 if k == 2 else k
    _shape(step, "coef_", (rows, n_features))
    _shape(step, "intercept_", (rows,))


def _svm(step, *, n_features: int, n_labels: int) -> None:
    _n_in(step, n_features)
    k = len(_classes(step, n_labels=n_labels))
    if step.kernel != "rbf" or getattr(step, "_sparse", False) or not step.probability:
        raise ParameterError("SVC is not the dense RBF SVM with probabilities")
    vectors = getattr(step, "support_vectors_", None)
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or vectors.shape[1] != n_features:
        raise ParameterError(f"SVC.support_vectors_ is not rows of {n_features} columns")
    n_sv = vectors.shape[0]
    counts = _shape(step, "_n_support", (k,))
    if counts.dtype.kind not in "iu" or counts.min() < 0 or int(counts.sum()) != n_sv:
        raise ParameterError(f"SVC's support counts do not add up to its {n_sv} support vectors")
    support = _shape(step, "support_", (n_sv,))
    if support.dtype.kind not in "iu" or (n_sv and (support.min() < 0 or support.max() >= step.shape_fit_[0])):
        raise ParameterError("SVC.support_ indexes outside the rows it was fitted on")
    if tuple(step.shape_fit_)[1:] != (n_features,):
        raise ParameterError("SVC.shape_fit_ differs from the run's features")
    pairs = k * (k - 1) // 2
    _shape(step, "_dual_coef_", (k - 1, n_sv))
    _shape(step, "dual_coef_", (k - 1, n_sv))
    for name in ("_intercept_", "intercept_", "_probA", "_probB"):
        _shape(step, name, (pairs,))
    if not (isinstance(step._gamma, float) and np.isfinite(step._gamma) and step._gamma > 0):
        raise ParameterError("SVC's gamma is not a positive number")


def _mlp(step, *, n_features: int, n_labels: int) -> None:
    _n_in(step, n_features)
    k = len(_classes(step, n_labels=n_labels))
    coefs, intercepts = getattr(step, "coefs_", None), getattr(step, "intercepts_", None)
    if not isinstance(coefs, list) or not isinstance(intercepts, list) or len(coefs) != len(intercepts) or not coefs:
        raise ParameterError("MLPClassifier's layers are not matched lists of weights and biases")
    width = n_features
    for i, (weights, bias) in enumerate(zip(coefs, intercepts)):
        if not isinstance(weights, np.ndarray) or weights.ndim != 2 or weights.shape[0] != width:
            raise ParameterError(f"MLPClassifier layer {i} does not take the {width} values before it")
        width = weights.shape[1]
        if not isinstance(bias, np.ndarray) or bias.shape != (width,):
            raise ParameterError(f"MLPClassifier layer {i}'s bias is not {width} values")
        _check_arrays_of(f"MLPClassifier layer {i}", weights, bias)
    if width != (1 if k == 2 else k) or step.n_outputs_ != width or step.n_layers_ != len(coefs) + 1:
        raise ParameterError(f"MLPClassifier's output is {width} values for {k} classes")
    if step.out_activation_ not in ("softmax", "logistic") or step.activation not in ("relu", "tanh", "logistic"):
        raise ParameterError("MLPClassifier's activations are not scikit-learn's")


def _check_arrays_of(what: str, *arrays: np.ndarray) -> None:
    if any(a.dtype.kind != "f" or not np.isfinite(a).all() for a in arrays):
        raise ParameterError(f"{what} holds values that are not finite numbers")


def _knn(step, *, n_features: int, n_labels: int) -> None:
    _n_in(step, n_features)
    k = len(_classes(step, n_labels=n_labels))
    if step._fit_method != "brute" or getattr(step, "_tree", None) is not None:
        raise ParameterError("KNeighborsClassifier holds a search tree, which cannot be checked (retrain the run)")
    rows = getattr(step, "_fit_X", None)
    if not isinstance(rows, np.ndarray) or rows.ndim != 2 or rows.shape[1] != n_features:
        raise ParameterError(f"KNeighborsClassifier's rows are not {n_features} columns")
    targets = _shape(step, "_y", (rows.shape[0],))
    if targets.dtype.kind not in "iu" or (len(targets) and (targets.min() < 0 or targets.max() >= k)):
        raise ParameterError("KNeighborsClassifier's targets index outside its classes")
    if not 1 <= step.n_neighbors <= rows.shape[0] or step.n_samples_fit_ != rows.shape[0]:
        raise ParameterError("KNeighborsClassifier asks for more neighbours than it has rows")
    if step.effective_metric_ != "euclidean" or step.weights != "uniform":
        raise ParameterError("KNeighborsClassifier is not the Euclidean, uniform kNN")


#: The check of each step class a baseline pipeline may hold.
CHECKS = {
    "StandardScaler": _scaler,
    "FunctionTransformer": _weights,
    "LogisticRegression": _logistic,
    "SVC": _svm,
    "MLPClassifier": _mlp,
    "KNeighborsClassifier": _knn,
}


def check_weights(path: Path, member: str = "model.weights.h5") -> None:
    """Refuse HDF5 weights inside a Keras archive whose datasets hold more than the member's bytes.

    Keras stores weights uncompressed, so their data can never exceed the member that holds them;
    a compressed (or otherwise filtered) dataset would inflate on read.

    Raises
    ------
    ParameterError
        A filtered dataset, or datasets promising more bytes than the member holds.
    """
    import h5py

    with zipfile.ZipFile(path) as archive:
        if member not in archive.namelist():
            return
        size = archive.getinfo(member).file_size
        with archive.open(member) as handle:
            try:
                store = h5py.File(handle, "r")
            except (OSError, ValueError) as exc:
                raise ParameterError(f"{path}: damaged model file ({member}: {exc})") from None
            with store:
                datasets = []
                store.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
                total = 0
                for dataset in datasets:
                    if dataset.compression is not None or dataset.dtype.hasobject:
                        raise ParameterError(f"{path}: refused: {member} holds a compressed or object dataset")
                    total += int(np.prod(dataset.shape, dtype=np.float64)) * dataset.dtype.itemsize
                if total > size:
                    raise ParameterError(
                        f"{path}: refused: {member} claims {total:,} bytes of weights but holds {size:,}"
                    )


def load_keras_model(path: Path):
    """A ``model.keras``, bounded (`check_archive`, `check_weights`) and loaded in Keras's safe mode.

    Raises
    ------
    ParameterError
        Missing, damaged, too large, or holding a ``Lambda`` layer (code in the file); naming it.
    """
    path = Path(path)
    require_regular_file(path, what="model file")
    limits = dict(KERAS_LIMITS)
    check_archive(path, limits, total=sum(limits.values()))
    check_weights(path)
    import keras

    from ..models import layers  # noqa: F401  (registers the custom layers saved models use)

    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a missing layer: all mean a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ParameterError(
                f"{path}: refused: it holds a Lambda layer, i.e. code that would run on load (Keras safe mode)"
            ) from None
        raise ParameterError(f"{path}: damaged model file ({type(exc).__name__}: {first})") from None
