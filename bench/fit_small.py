"""Can each Keras model fit 64 demo clips? Training-set accuracy in inference mode, and the time it took.

The check of ``tests/test_fit.py`` for every model, the transfer backbones (from random
weights, as ``--weights none``) included, which take minutes each on two CPU cores:

    python bench/fit_small.py --models resnet50,densenet121            # the demo's 32 x 32 images
    python bench/fit_small.py --models resnet50 --image-size 64x64     # resized first
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    from test_fit import KIND_OF_LAYOUT, N_CLIPS, fit_small

    from ser_keras.cli.main import main as cli
    from ser_keras.data.demo import ensure_demo_corpus
    from ser_keras.extraction.extract import FeatureSet
    from ser_keras.models import MODELS
    from ser_keras.options import image_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(n for n, s in MODELS.items() if s.is_keras and s.build))
    parser.add_argument("--image-size", type=image_size, default=None, help="transfer backbones' input size")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fit-small-"))
    demo = ensure_demo_corpus(work / "demo_corpus")
    import numpy as np

    for name in args.models.split(","):
        spec = MODELS[name]
        layout = "sequence" if name == "cnn_lstm" else spec.layouts[0]
        options = KIND_OF_LAYOUT[layout]
        cli(["extract", "--quiet", "--corpus", f"demo={demo}", "--cache-dir", str(work), *options, "--augment", "none"])
        fs = FeatureSet(sorted(work.glob(f"{options[1]}-*"))[0])
        X, y = fs.arrays("train")
        pick = np.random.default_rng(0).permutation(len(y))[:N_CLIPS]
        started = time.perf_counter()
        accuracy = fit_small(name, np.asarray(X[pick]), np.asarray(y[pick]), fs, image_size=args.image_size)
        print(f"{name}: training accuracy {accuracy:.2f} in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
