"""Serving a trained run: predictions for audio, timelines, exported models, the page.

- `predict`: `Predictor`, emotions of clips, files and speakers with a run (or a ``--gender all`` group).
- `timeline`: a long recording as speech segments (or fixed windows), one prediction each, and its figure.
- `saved_model`: the SavedModel export, with a raw-waveform signature where the kind has a graph form.
- `export`: ``ser-keras export``, a run's SavedModel as LiteRT files, checked against the run.
- `app`: the Streamlit page (``ser-keras app``).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "app": ["decode_upload", "tested_text", "ranked_text", "timeline_text", "main"],
        "export": ["export_litert", "check_litert"],
        "predict": ["Predictor", "expand_paths"],
        "saved_model": ["window_waveform", "standardize_batch", "export_saved_model"],
        "timeline": [
            "speech_reference",
            "speech_segments",
            "count_fixed_segments",
            "fixed_segments",
            "fixed_window",
            "predict_timeline",
            "emotion_colours",
            "owned_spans",
            "timeline_figure",
            "plot_timeline",
        ],
    },
)
