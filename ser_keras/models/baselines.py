"""The scikit-learn baselines: each a factory ``estimator(options) -> unfitted classifier``.

``options`` is a resolved `ser_keras.training.options.TrainOptions`; ``class_weight='balanced'``
weighs classes inversely to their frequency where the estimator supports it.
scikit-learn is imported only when a factory runs.
"""

from __future__ import annotations


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
