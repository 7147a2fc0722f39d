"""Scores: a run's report, a cross-validation's summary, re-scoring a published run, the robustness benchmark.

- `report`: UA, WA, macro-F1, per-class recall, the confusion matrix and curves of one evaluation.
- `calibration`: whether the probabilities mean what they say: ECE, Brier score, accuracy by coverage.
- `cv_report`: mean ± std over folds, per-class recall, the summed confusion matrix and its plot.
- `evaluate`: a published run re-scored on its own test split or on another corpus.
- `robustness`: a run's (or each cv fold's) test clips scored through each recording shift.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "calibration": ["expected_calibration_error", "brier_score", "risk_coverage", "calibration_report"],
        "cv_report": ["summarize_folds", "plot_cv"],
        "evaluate": ["evaluate_run", "evaluate_into"],
        "report": ["score", "write_report", "plot_confusion", "confusion_heatmap", "plot_curves"],
        "robustness": [
            "tested_clips",
            "shift_table",
            "evaluate_shifts",
            "summarise_folds",
            "plot_robustness",
            "read_robustness",
        ],
    },
)
