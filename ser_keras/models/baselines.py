"""The scikit-learn baselines: each a factory ``estimator(options) -> unfitted classifier``.

``options`` is a resolved `ser_keras.training.options.TrainOptions`; ``class_weight='balanced'``
weighs classes inversely to their frequency where the estimator supports it.
scikit-learn is imported only when a factory runs.
"""

from __future__ import annotations

import numpy as np


def _balanced(options) -> str | None:
    return "balanced" if options.class_weight == "balanced" else None


def logistic_regression(options):
    """Multinomial logistic regression, C = ``options.C`` (default 0.003)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=options.C if options.C is not None else 0.003, max_iter=3000, class_weight=_balanced(options)
    )


def svm(options):
    """An RBF SVM with Platt-scaled probabilities, C = ``options.C`` (default 3)."""
    from sklearn.svm import SVC

    C = options.C if options.C is not None else 3.0
    return SVC(C=C, probability=True, class_weight=_balanced(options), random_state=options.seed)


def mlp(options):
    """An MLP (256, 128) with Adam at ``options.lr``, at least 50 iterations."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(256, 128),
        alpha=1e-3,
        learning_rate_init=options.lr,
        max_iter=max(options.epochs, 50),
        early_stopping=False,
        random_state=options.seed,
    )


def knn(options):
    """Five nearest neighbours, found by brute force (exact, and nothing in the model file to trust)."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=5, algorithm="brute")  # no search tree: a loaded one cannot be checked


def logistic_to_keras(pipeline, *, n_labels: int, bounds=None):
    """The Keras model equal to a fitted ``StandardScaler [-> column weights] -> LogisticRegression`` pipeline.

    Multinomial logistic regression is a z-score followed by a softmax of an affine map, so
    the Keras model is `Normalization` (the scaler's mean and variance) -> `Dense` softmax
    (the coefficients, times the `group_weights` when the pipeline has them, and the
    intercepts), with zero-probability columns for labels the fit never saw.  Its
    probabilities equal ``pipeline.predict_proba`` to float32 precision.

    ``bounds`` ``(low, high)``, each ``(n_features,)``, clips the z-scores first
    (`ser_keras.models.layers.Bounded`): the model then equals the pipeline on rows inside them.

    Returns
    -------
    model : keras.Model, input ``(n_features,)``, output ``(None, n_labels)``
    """
    import keras

    scaler, clf = pipeline[0], pipeline[-1]
    n_features = scaler.mean_.shape[0]
    weights = pipeline[1].kw_args["weights"] if len(pipeline) == 3 else np.ones(n_features)  # `group_weights`
    kernel = np.zeros((n_features, n_labels), dtype=np.float32)
    bias = np.full(n_labels, -1e9, dtype=np.float32)  # absent labels: probability 0
    kernel[:, clf.classes_] = (clf.coef_ * weights).T
    bias[clf.classes_] = clf.intercept_
    inputs = keras.Input(shape=(n_features,), name="features")
    x = keras.layers.Normalization(
        mean=scaler.mean_.astype(np.float32), variance=np.square(scaler.scale_).astype(np.float32), name="normalize"
    )(inputs)
    if bounds is not None:  # (low, high) of the standardised features (`ser_keras.extraction.parts.fit_bounds`)
        from .layers import Bounded

        x = Bounded(*bounds, name="bounded")(x)
    dense = keras.layers.Dense(n_labels, activation="softmax", name="emotion")
    outputs = dense(x)
    dense.set_weights([kernel, bias])
    return keras.Model(inputs, outputs, name="logreg")
