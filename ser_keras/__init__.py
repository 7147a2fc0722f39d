"""ser-keras: speech emotion recognition on Keras 3 / TensorFlow and librosa.

The subpackages follow the pipeline's stages, in `STAGES` order; each imports only from the
stages before it and from the core modules at the top (`errors`, `files`, `options`, `layout`,
`figures`, `provenance`, `tflog`), never from a later stage::

    signal -> data -> features -> extraction -> models -> runs -> serving -> evaluation -> training -> cli

Importing the package is cheap: TensorFlow is imported only by the training,
evaluation and serving code that needs it, never by feature extraction.
"""

__version__ = "0.1.0"

#: The subpackages in pipeline order: a module imports from its own stage, earlier stages and the core.
STAGES = ("signal", "data", "features", "extraction", "models", "runs", "serving", "evaluation", "training", "cli")

from .errors import ParameterError, SerError, SerWarning  # noqa: E402

__all__ = ["ParameterError", "SerError", "SerWarning", "STAGES", "__version__"]
