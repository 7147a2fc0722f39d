"""Shared fixtures: synthetic audio written into tmp_path, and the optional real corpus."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path

# pytest-xdist runs one worker per core. A BLAS or TensorFlow pool of every core in each worker
# oversubscribes the cores, and spinning BLAS threads then slow a logistic regression tenfold, so each
# worker (and the subprocesses it starts) computes on one thread. Set before numpy loads its BLAS.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(_variable, "1")

import numpy as np
import pytest
import soundfile as sf

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAVDESS_DIR = SHARED_DATA / "ravdess"
CREMAD_TABLE = SHARED_DATA / "crema-d" / "VideoDemographics.csv"

# Keep TensorFlow quiet and on the CPU in every test process (and subprocesses).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
# Filter banks are cached on disk (ser_keras.signal.spectral.filter_cache_dir): in a folder of this test session,
# not ~/.cache.
if "SER_KERAS_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["SER_KERAS_CACHE_DIR"] = tempfile.mkdtemp(prefix="ser-keras-test-cache-")


#: Debian's chromium and chromium-driver (`.ci/run` installs them), for the browser tests.
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HAS_CHROMIUM = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 90) -> None:
    """Until ``url`` answers 200 (TimeoutError after ``seconds``)."""
    import time
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@contextlib.contextmanager
def headless_chromium(profile: Path, flags: tuple[str, ...] = ()):
    """A Selenium driver of headless Chromium with its own profile folder (and any other ``flags``), quit on
    leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--window-size=1200,1600",
        *flags,
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def tone(*, sr: int = 16000, seconds: float = 1.0, freq: float = 220.0, amp: float = 0.3, rng=None) -> np.ndarray:
    """A harmonic tone with a little noise: a stand-in for a voiced sound."""
    t = np.arange(int(sr * seconds)) / sr
    y = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6))
    if rng is not None:
        y = y + rng.normal(0, 0.01, t.size)
    return y.astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` and its bytes: compare before and after to prove nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def shown(element) -> str:
    """The text a Streamlit element shows: its Markdown source with the page's escapes (`app.plain`) undone."""
    import re

    return re.sub(r"\\(.)", r"\1", element.value)


def one_error_line(capsys, *needles: str) -> str:
    """The single error line on stderr, checked to hold each of ``needles``."""
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    return err[0]


def small_csv(folder: Path) -> Path:
    """A CSV manifest of 8 tones (4 speakers, sad and angry) under ``folder``."""
    import pandas as pd

    rows = []
    for s in range(4):
        for e, emotion in enumerate(("sad", "angry")):
            name = f"s{s}{emotion}.wav"
            write_wav(folder / "audio" / name, tone(seconds=3.2, freq=150.0 + 20 * s + 7 * e))
            rows.append((f"audio/{name}", emotion, f"s{s}", "female" if s % 2 else "male"))
    path = folder / "list.csv"
    pd.DataFrame(rows, columns=["path", "emotion", "speaker", "gender"]).to_csv(path, index=False)
    return path


@pytest.fixture
def make_wav(tmp_path):
    """Write a short tone to ``tmp_path / name`` and return the path."""

    def _make(name: str, *, seconds: float = 0.5, sr: int = 16000, freq: float = 220.0) -> Path:
        return write_wav(tmp_path / name, tone(sr=sr, seconds=seconds, freq=freq), sr)

    return _make


@contextlib.contextmanager
def built_once(tmp_path_factory, name: str):
    """A folder of this test session that the first pytest-xdist worker to ask builds, the others reuse.

    Yields ``(folder, done)``: build into ``folder`` when ``done`` is False.  Held under an
    exclusive lock, so a worker waits while another builds; a build that fails leaves
    ``done`` False for the next one.
    """
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common parent
    folder = shared / f"shared-{name}"
    with open(shared / f".shared-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            marker = folder / ".built"
            folder.mkdir(exist_ok=True)
            yield folder, marker.is_file()
            marker.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The real demo corpus, generated once per test session."""
    from ser_keras.data.demo import ensure_demo_corpus

    with built_once(tmp_path_factory, "demo") as (folder, _):
        return ensure_demo_corpus(folder / "demo_corpus")


def pytest_collection_modifyitems(config, items):
    """Skip the real-corpus tests when ``../shared/data`` is absent, and run the slow tests first: under
    pytest-xdist the long ones then overlap each other instead of one of them ending the run alone."""
    skip = pytest.mark.skip(reason=f"real corpus not found at {SHARED_DATA} (../shared/data beside the repo)")
    for item in items:
        if "shared_data" in item.keywords and not RAVDESS_DIR.is_dir():
            item.add_marker(skip)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _demo_features(tmp_path_factory, demo_root, kind: str):
    """The demo corpus's ``kind`` feature set (no augmentation), extracted once per session."""
    from ser_keras.cli.main import main
    from ser_keras.extraction.extract import FeatureSet

    with built_once(tmp_path_factory, f"cache-{kind}") as (cache, done):
        if not done:
            args = ["extract", "--quiet", "--features", kind, "--augment", "none", "--corpus", f"demo={demo_root}"]
            assert main([*args, "--cache-dir", str(cache), "--jobs", "2"]) == 0
    return FeatureSet(next(cache.glob(f"{kind}-*")))


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """A feature cache shared by the session's tests (and xdist workers) that extract the demo corpus
    with the same settings: the fingerprint tells their feature sets apart, the extract's lock orders them."""
    with built_once(tmp_path_factory, "demo-cache") as (folder, _):
        return folder


@pytest.fixture(scope="session")
def demo_stats(tmp_path_factory, demo_root):
    """The demo corpus's stats feature set (no augmentation), extracted once."""
    return _demo_features(tmp_path_factory, demo_root, "stats")


@pytest.fixture(scope="session")
def demo_functionals(tmp_path_factory, demo_root):
    """The demo corpus's functionals feature set (the default kind, no augmentation), extracted once."""
    return _demo_features(tmp_path_factory, demo_root, "functionals")


@pytest.fixture(scope="session")
def demo_conv1d_run(demo_stats, tmp_path_factory) -> Path:
    """A conv1d run on the demo corpus's stats (8 epochs), trained once per session; copy it to change it."""
    from ser_keras.cli.main import main

    with built_once(tmp_path_factory, "conv1d-run") as (out, done):
        if not done:
            args = ["train", "--quiet", "--features-dir", str(demo_stats.path), "--out", str(out), "--epochs", "8"]
            assert main(args) == 0
    return next(p for p in out.iterdir() if (p / "run.json").is_file())


@pytest.fixture(scope="session")
def logreg_run(demo_stats, tmp_path_factory):
    """A logreg run on the demo stats: a scikit-learn run (model.skops); trained once per
    session (pytest-xdist workers share it), so tests copy it before changing it (`run_copy`)."""
    from ser_keras.cli.main import main

    with built_once(tmp_path_factory, "logreg-run") as (out, done):
        if not done:
            args = ["train", "--quiet", "--features-dir", str(demo_stats.path), "--model", "logreg", "--out", str(out)]
            assert main(args) == 0
    return next(p for p in out.iterdir() if (p / "run.json").is_file())


@pytest.fixture
def run_copy(logreg_run, tmp_path):
    run = tmp_path / "models" / logreg_run.name
    shutil.copytree(logreg_run, run)
    return run


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("clip") / "clip.wav", tone(seconds=3.0))


@pytest.fixture(scope="session", autouse=True)
def numba_kernels_compiled_under_the_lock():
    """Each test process compiles (or loads) librosa's numba kernels once, under the machine-wide lock.

    Tests that call the features or ``librosa.yin`` directly would otherwise compile them outside
    `ser_keras.extraction.jit_cache.first_use`, racing another process that compiles them, and a pair
    of cache files written at once crashes every later process that loads them (SIGSEGV in ``yin``).
    """
    import librosa

    from ser_keras.extraction.jit_cache import first_use
    from ser_keras.features.registry import FeatureConfig, compute

    y = tone(sr=16000, seconds=1.0, rng=np.random.default_rng(0))
    with first_use(("tests", "numba kernels")):
        for kind in ("functionals", "lld"):
            compute([y], config=FeatureConfig.for_kind(kind))
        for signal in (y, y.astype(np.float64)):
            librosa.yin(signal, fmin=60, fmax=500, sr=16000, frame_length=1024)


@pytest.fixture(scope="session")
def fusion_run(demo_root, tmp_path_factory) -> Path:
    """A small exported fusion run (three emotions, 64 frames, 3 epochs), trained once per session and exported
    with ``--rebuild`` (so the tests that hold its files to the feature path hold the rebuilt ones); copy it to
    change it."""
    from ser_keras.cli.main import main

    with built_once(tmp_path_factory, "fusion-run") as (out, done):
        if not done:
            small = ["--emotions", "angry,neutral,sad", "--sequence-frames", "64", "--augment", "none"]
            args = ["train", "--quiet", "--corpus", f"demo={demo_root}", "--cache-dir", str(out / "features")]
            assert main([*args, "--out", str(out / "models"), *small, "--epochs", "3", "--jobs", "2"]) == 0
            run = next((out / "models").iterdir())
            assert main(["export", "--quiet", "--rebuild", str(run)]) == 0  # the SavedModel made again from the model
    return next((out / "models").iterdir())


# --- crafted LiteRT files: the shipped waveform.tflite with one thing changed ------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "ser_keras" / "pretrained" / "ravdess" / "waveform.tflite"


@functools.cache
def shipped_contract() -> dict:
    """The shipped model's contract (what a crafted one is changed from)."""
    from ser_keras.runs.litert import WaveformModel

    return dict(WaveformModel(SHIPPED).contract)


def edited_model(edit) -> bytes:
    """The shipped ``waveform.tflite`` with ``edit(model, subgraph, signature)`` applied to its object tree."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(SHIPPED.read_bytes()), 0)
    signature = model.signatureDefs[0]
    edit(model, model.subgraphs[signature.subgraphIndex], signature)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def output_tensor(signature, name: str) -> int:
    return next(o.tensorIndex for o in signature.outputs if o.name == name.encode())


def with_contract(text: bytes):
    """An edit that makes the ``contract`` output (a constant) hold ``text``."""

    def edit(model, subgraph, signature):
        tensor = subgraph.tensors[output_tensor(signature, "contract")]
        model.buffers[tensor.buffer].data = np.frombuffer(text, np.uint8)
        tensor.shape = np.array([len(text)], np.int32)
        tensor.shapeSignature = None

    return edit


def nan_weights(model, subgraph, signature):
    """Every float32 constant of the last fully connected operator made NaN."""
    from ai_edge_litert import schema_py_generated as schema

    last = [op for op in subgraph.operators if model.operatorCodes[op.opcodeIndex].builtinCode == 9][-1]
    for index in last.inputs[1:]:
        tensor = subgraph.tensors[index]
        if tensor.type == schema.TensorType.FLOAT32 and model.buffers[tensor.buffer].data is not None:
            size = len(model.buffers[tensor.buffer].data) // 4
            model.buffers[tensor.buffer].data = np.full(size, np.nan, np.float32).view(np.uint8)


def exp_for_softmax(model, subgraph, signature):
    """The operator that makes the probabilities (a softmax) turned into an exponential: unnormalised scores."""
    target = output_tensor(signature, "probabilities")
    (softmax,) = [op for op in subgraph.operators if target in list(op.outputs)]
    assert model.operatorCodes[softmax.opcodeIndex].builtinCode == 25  # SOFTMAX
    softmax.opcodeIndex = next(i for i, code in enumerate(model.operatorCodes) if code.builtinCode == 47)  # EXP
    softmax.builtinOptionsType, softmax.builtinOptions = 0, None


@contextlib.contextmanager
def browser_on(command: list[str], *, ready: str, page: str, profile: Path, flags: tuple[str, ...] = ()):
    """A server started by ``command`` (stopped afterwards), and headless Chromium open on its ``page`` once
    ``ready`` answers."""
    import subprocess

    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(ready)
        with headless_chromium(profile, flags) as driver:
            driver.get(page)
            yield driver
    finally:
        server.terminate()
        server.wait(timeout=30)


#: The browser example (`page_with_model` serves it).
WEB = Path(__file__).resolve().parents[1] / "examples" / "web"


@contextlib.contextmanager
def page_with_model(model: bytes, tmp_path: Path, *, beside: dict[str, bytes] | None = None, microphone=None):
    """``examples/web`` served on localhost with ``model`` as its waveform.tflite (``None``: no model), and the
    files ``beside`` it in ``model/`` (``run.json``, ``LICENSE``), in headless Chromium; ``microphone``: a WAV
    file that Chromium's fake microphone plays (in a loop), granted without asking."""
    import subprocess
    import sys

    from selenium.webdriver.support.ui import WebDriverWait

    if not (WEB / "node_modules" / "@litertjs" / "core" / "wasm").is_dir():  # the pinned runtime, from the registry
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True, timeout=600)
    site = tmp_path / "site"
    site.mkdir(parents=True)
    for path in [*WEB.glob("*.js"), *WEB.glob("*.html")]:
        shutil.copy(path, site / path.name)
    (site / "node_modules").symlink_to(WEB / "node_modules")
    (site / "model").mkdir()
    if model is not None:
        (site / "model" / "waveform.tflite").write_bytes(model)
    for name, content in (beside or {}).items():
        (site / "model" / name).write_bytes(content)
    flags = ()
    if microphone is not None:
        flags = (
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--autoplay-policy=no-user-gesture-required",
        )
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    page = f"http://127.0.0.1:{port}/index.html"
    with browser_on(command, ready=page, page=page, profile=tmp_path / "profile", flags=flags) as driver:
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.execute_script("return window.serKerasReady || window.serKerasResult"))
        yield driver, wait
