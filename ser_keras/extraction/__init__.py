"""The extract stage: a split manifest -> a cached, fingerprinted feature set, and the parts a run sees.

- `extract`: `extract_features` (train-only augmentation, a fingerprint of everything that determines
  the arrays, an atomic publish) and `FeatureSet`, a finished set read back.
- `chunks`: one extraction's work, in chunks computed by workers and assembled into arrays.
- `workers`: where the chunks run: local processes that exit with their parent, or a Dask cluster.
- `feature_cache`: the cache's files: checksummed arrays, checkpointed chunks, the folder lock.
- `reuse`: rows of finished sets that a new extraction takes instead of computing them again.
- `jit_cache`: numba's on-disk cache, filled by one process at a time.
- `parts`: a set's splits as in-memory parts, per gender, normalised.
- `normalize`: speaker and corpus normalisation, each group standardised by its own statistics.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "chunks": ["extract_chunk", "run_chunks", "assemble"],
        "extract": ["ExtractResult", "plan_items", "fingerprint", "extract_features", "FeatureSet"],
        "feature_cache": ["array_digest", "verified", "chunk_ok", "chunk_name", "locked"],
        "jit_cache": ["lock_path", "first_use"],
        "normalize": [
            "speaker_statistics",
            "standardize_by_speaker",
            "transductive",
            "standardize_groups",
            "check_normalization",
        ],
        "parts": ["Part", "gender_rows", "load_split", "normalize_parts", "fit_normalization", "speaker_rows"],
        "reuse": ["item_keys", "find_rows", "RowReader"],
        "workers": ["dask_client", "exit_with_parent"],
    },
)
