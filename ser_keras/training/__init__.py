"""Training: recipes and their options, the fitters, strategies, the train stage and cross-validation.

- `options`: `TrainOptions`, every training option declared once with its flag and help.
- `arguments`: the recipe's command-line options for every command that takes them.
- `recipe`: recipe files (``--config``, ``--recipe``) and the ``recipe.yaml`` every run writes.
- `train`: the train stage, a feature set -> a published run folder with a trained, evaluated, exported model.
- `fit_keras`, `fit_sklearn`, `fit_fusion`: fitting a Keras network (inside a ``tf.distribute``
  strategy), a scikit-learn baseline, and the fusion model.
- `pipeline`: ``tf.data`` input pipelines, with on-the-fly augmentation of mel images.
- `strategies`: the ``tf.distribute`` strategies every Keras model is built and compiled under.
- `gender`: ``--gender all``, a gender classifier routing clips between a male and a female model.
- `cv`: speaker k-fold cross-validation, resumable.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "arguments": [
            "shipped_recipes",
            "recipe_path",
            "shifts_type",
            "add_corpus_options",
            "add_split_options",
            "corpus_manifest",
            "split_config",
            "split_manifest",
            "checked_type",
            "out_dir_type",
            "output_file_type",
            "add_feature_options",
            "feature_configs",
            "training_options",
            "add_training_options",
            "subparser_class",
            "HelpFormatter",
            "add_config_option",
            "add_recipe_options",
            "recipe_parser",
        ],
        "cv": ["fold_parts", "cross_validate", "resume_key"],
        "fit_keras": ["train_keras", "frame_masks", "average_models"],
        "fit_sklearn": ["group_weights", "scale_columns", "fit_pipeline"],
        "gender": ["fit_gender_classifier", "train_gender_group", "routed_report"],
        "options": ["TrainOptions"],
        "pipeline": ["SpecAugmentOptions", "augment_mel", "make_datasets", "mix_batch"],
        "recipe": [
            "read_config",
            "recipe_options",
            "expand_config",
            "resolved_values",
            "recipe_of",
            "cv_recipe_of",
            "resolved_recipe",
            "write_recipe",
            "Recipe",
        ],
        "strategies": ["configure_devices", "make_strategy", "is_chief", "prepare_multi_worker"],
        "train": ["check_recipe", "check_model_suits"],
    },
)
