"""ser-keras: speech emotion recognition on Keras 3 / TensorFlow and librosa.

The subpackages follow the pipeline's stages, in `STAGES` order; each imports only from the
stages before it and from the core modules at the top (`errors`, `files`, `options`, `layout`,
`figures`, `provenance`, `tflog`), never from a later stage::

    signal -> data -> features -> extraction -> models -> runs -> serving -> evaluation -> training -> cli

Importing the package is cheap: TensorFlow is imported only by the training,
evaluation and serving code that needs it, never by feature extraction.
"""

__version__ = "0.6.0"

#: The subpackages in pipeline order: a module imports from its own stage, earlier stages and the core.
STAGES = ("signal", "data", "features", "extraction", "models", "runs", "serving", "evaluation", "training", "cli")

import lazy_loader  # noqa: E402

from .errors import ParameterError, SerError, SerWarning  # noqa: E402

# The public API: ``import ser_keras as sk``, then ``sk.extract``, ``sk.train``, ``sk.Predictor`` ...,
# each imported on first use.
__getattr__, __dir__, _public = lazy_loader.attach(
    __name__,
    submod_attrs={
        "api": ["extract", "train", "cross_validate", "evaluate", "Run"],
        "serving.predict": ["Predictor"],
        "features.registry": ["FeatureConfig"],
        "signal.augment": ["AugmentConfig"],
        "data.splits": ["SplitConfig"],
        "training.options": ["TrainOptions"],
        "training.recipe": ["Recipe"],
        "extraction.extract": ["FeatureSet"],
    },
)
__all__ = [*_public, "ParameterError", "SerError", "SerWarning", "STAGES", "__version__"]
