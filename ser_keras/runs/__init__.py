"""Run folders: their names, staging and publishing, their files, and the models they hold, loaded safely.

- `folders`: a run folder's life (`run_name`, `Staged`, `publish`), its checked ``run.json``
  (`read_sidecar`) and `load_run`.
- `model_files`: model files from anyone, bounded before they are read and checked against
  ``run.json`` after (skops estimators, Keras archives).
- `litert`: TensorFlow-free inference with a run's LiteRT flatbuffer.
- `inference`: probabilities from any model a run holds.
- `listing`: ``ser-keras runs``, one row per run, cv folder and group.
- `model_card`: ``MODEL_CARD.md``, what a run is, its data and licences, its scores and limits.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "folders": [
            "run_name",
            "check_out_dir",
            "check_output_file",
            "Staged",
            "publish",
            "published_name",
            "is_partial",
            "find_runs",
            "read_json",
            "read_sidecar",
            "validate_sidecar",
            "check_model_outputs",
            "refuse_pickle",
            "n_features_of",
            "load_run",
            "feature_set_of",
        ],
        "inference": ["sklearn_probabilities", "predict_probabilities", "gender_inputs"],
        "listing": ["list_runs", "runs_table"],
        "litert": ["LiteRTModel"],
        "model_card": ["run_card", "cv_card", "robustness_section", "write_model_card"],
        "model_files": [
            "trusted_types",
            "check_archive",
            "check_npy_members",
            "estimator_byte_limit",
            "save_estimator",
            "load_estimator",
            "expected_steps",
            "check_estimator",
            "LabelMismatch",
            "check_weights",
            "load_keras_model",
        ],
    },
)
