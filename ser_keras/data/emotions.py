"""The canonical emotion vocabulary and the user's selection and merging of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import ParameterError

#: Every corpus label is mapped onto this vocabulary, in this order.
CANONICAL_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fear",
    "disgust",
    "surprise",
    "boredom",
)


def check_emotion(name: str) -> str:
    """Return ``name`` if it is a canonical emotion, else raise `ParameterError`."""
    if name not in CANONICAL_EMOTIONS:
        raise ParameterError(f"unknown emotion {name!r}; valid emotions are: {', '.join(CANONICAL_EMOTIONS)}")
    return name


def parse_emotion_list(text: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Parse ``"angry,happy,neutral,sad"`` (or a list) into a tuple of canonical names.

    ``None`` or an empty string means "every emotion the corpus has".
    """
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(check_emotion(item.strip().lower()) for item in items if item.strip())
    return names or None


def parse_merges(specs: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Parse merges such as ``["calm=neutral"]`` into ``{"calm": "neutral"}``.

    Each spec maps a source emotion onto a target emotion; both must be canonical.
    """
    if not specs:
        return {}
    if isinstance(specs, Mapping):
        pairs = list(specs.items())
    else:
        pairs = []
        for spec in specs:
            for part in spec.split(","):
                if not part.strip():
                    continue
                if "=" not in part:
                    raise ParameterError(f"bad merge {part!r}: expected SOURCE=TARGET, e.g. calm=neutral")
                source, target = part.split("=", 1)
                pairs.append((source, target))
    return {check_emotion(s.strip().lower()): check_emotion(t.strip().lower()) for s, t in pairs}


def ordered_labels(emotions: Iterable[str]) -> list[str]:
    """The distinct emotions in canonical order: the class index order of every model."""
    present = set(emotions)
    return [name for name in CANONICAL_EMOTIONS if name in present]
