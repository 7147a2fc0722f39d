"""Corpora and their manifests: which recordings there are, who speaks, what emotion, which split.

- `corpora`: parsers of RAVDESS, CREMA-D, TESS, SAVEE, EMO-DB, a CSV manifest and the demo corpus,
  each a folder (or file) -> a manifest DataFrame, one row per utterance (`build_manifest`).
- `demo`: the embedded synthetic demo corpus (speech-like audio with acted-emotion prosody; not speech).
- `emotions`: the canonical emotion names, and the user's selection and merging of them.
- `manifest`: manifest-wide checks and views (duplicate files, fingerprints, the summary and its plot).
- `splits`: speaker-independent train / val / test splits and folds, made before any augmentation.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "corpora": [
            "audio_files",
            "folds_skips",
            "parse_ravdess",
            "parse_cremad",
            "parse_tess",
            "parse_savee",
            "parse_emodb",
            "parse_csv",
            "parse_demo",
            "parse_corpus_spec",
            "corpus_names",
            "corpus_list",
            "build_manifest",
        ],
        "demo": [
            "Voice",
            "speaker_traits",
            "utterance_voice",
            "synthesize",
            "demo_file_plan",
            "generate_demo_corpus",
            "ensure_demo_corpus",
        ],
        "emotions": ["check_emotion", "parse_emotion_list", "parse_merges", "ordered_labels"],
        "manifest": ["drop_duplicate_files", "file_sha256", "summarize", "plot_counts", "file_fingerprints"],
        "splits": [
            "split_speakers",
            "split_random",
            "speaker_folds",
            "assign_split",
            "split_speaker_lists",
            "SplitConfig",
        ],
    },
)
