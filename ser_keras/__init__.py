"""ser-keras: speech emotion recognition on Keras 3 / TensorFlow and librosa.

The pipeline, one module a stage::

    corpora  ->  audio  ->  augment  ->  features  ->  cache / extract  ->  models / train  ->  evaluate

Importing the package is cheap: TensorFlow is imported only by the training,
evaluation and serving modules, never by feature extraction.
"""

__version__ = "0.1.0"

from .errors import ParameterError, SerError, SerWarning  # noqa: E402

__all__ = ["ParameterError", "SerError", "SerWarning", "__version__"]
