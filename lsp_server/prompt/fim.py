"""FIM prompt templates: detected from the vocabulary by token text, assembled at token level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class FimTemplate:
    """One family's marker texts and order; `middle` is None where the family has no middle mark."""

    name: str
    prefix: str
    suffix: str
    middle: str | None
    spm: bool  # suffix first (Seed-Coder, Codestral) rather than prefix first
    stops: tuple[str, ...] = ()

    def markers(self) -> tuple[str, ...]:
        """Texts that must each be one token for the template to be usable."""
        return (self.prefix, self.suffix) + ((self.middle,) if self.middle else ())


TEMPLATES: tuple[FimTemplate, ...] = (
    FimTemplate("seed-coder", "<[fim-prefix]>", "<[fim-suffix]>", "<[fim-middle]>", spm=True),
    FimTemplate(
        "qwen",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        spm=False,
        stops=("<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|endoftext|>", "<|im_end|>"),
    ),
    FimTemplate(
        "starcoder",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        spm=False,
        stops=("<fim_pad>", "<file_sep>", "<|endoftext|>"),
    ),
    FimTemplate("codellama", "<PRE>", "<SUF>", "<MID>", spm=False, stops=("<EOT>",)),
    FimTemplate(
        "deepseek",
        "<｜fim▁begin｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁end｜>",
        spm=False,
        stops=("<|EOT|>",),
    ),
    FimTemplate("codestral", "[PREFIX]", "[SUFFIX]", None, spm=True),
)
TEMPLATES_BY_NAME = {t.name: t for t in TEMPLATES}
# Texts of every family's control marks: never part of a suggestion, always a reason to stop.
ALL_MARKER_TEXTS: tuple[str, ...] = tuple(
    dict.fromkeys(m for t in TEMPLATES for m in t.markers() + t.stops)
)


@dataclass(frozen=True)
class FimIds:
    """A template bound to one vocabulary's token ids."""

    template: FimTemplate
    prefix: int
    suffix: int
    middle: int | None

    def ids(self) -> tuple[int, ...]:
        """Every marker id, for stop checks."""
        return (self.prefix, self.suffix) + ((self.middle,) if self.middle is not None else ())


TokenLookup = Callable[[str], "int | None"]


def bind(template: FimTemplate, lookup: TokenLookup) -> FimIds | None:
    """Bind a template to a vocabulary, or None when one of its marks is not a single token."""
    ids = [lookup(m) for m in template.markers()]
    if any(i is None for i in ids):
        return None
    middle = ids[2] if template.middle else None
    return FimIds(template, ids[0], ids[1], middle)  # type: ignore[arg-type]


def detect(lookup: TokenLookup, forced: str = "auto") -> tuple[FimIds | None, str | None]:
    """Find the FIM family a vocabulary speaks; returns (ids or None, a warning or None)."""
    if forced != "auto":
        template = TEMPLATES_BY_NAME.get(forced)
        if template is None:
            return _auto(lookup), f"unknown FIM template {forced!r}; detecting from the vocabulary"
        bound = bind(template, lookup)
        if bound is not None:
            return bound, None
        missing = ", ".join(m for m in template.markers() if lookup(m) is None)
        fallback = _auto(lookup)
        return fallback, (
            f"FIM template {forced!r} does not fit this model (no single token for {missing}); "
            f"using {fallback.template.name if fallback else 'prefix-only completion'}"
        )
    return _auto(lookup), None


def _auto(lookup: TokenLookup) -> FimIds | None:
    """First family whose marks all exist in the vocabulary."""
    for template in TEMPLATES:
        bound = bind(template, lookup)
        if bound is not None:
            return bound
    return None


def assemble(
    fim: FimIds | None, prefix: Sequence[int], suffix: Sequence[int], bos: int | None
) -> list[int]:
    """The prompt's token ids: SPM `<suf>S<pre>P<mid>`, PSM `<pre>P<suf>S<mid>`, or prefix only."""
    head = [bos] if bos is not None else []
    if fim is None:
        return head + list(prefix)
    tail = [fim.middle] if fim.middle is not None else []
    if fim.template.spm:
        return head + [fim.suffix, *suffix, fim.prefix, *prefix] + tail
    return head + [fim.prefix, *prefix, fim.suffix, *suffix] + tail


@lru_cache(maxsize=8)
def _by_opening(markers: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Markers grouped by their first two characters: a vocabulary may have thousands of
    special tokens, but code contains only a few of their openings ("<[", "<|", ...)."""
    groups: dict[str, list[str]] = {}
    for marker in markers:
        if len(marker) >= 2:
            groups.setdefault(marker[:2], []).append(marker)
    return {opening: tuple(group) for opening, group in groups.items()}


def markers_in(text: str, markers: tuple[str, ...]) -> list[str]:
    """The markers that occur in text, scanning once per distinct opening, not per marker."""
    return [
        marker
        for opening, group in _by_opening(markers).items()
        if opening in text
        for marker in group
        if marker in text
    ]


def split_markers(text: str, markers: Sequence[str]) -> list[str]:
    """Cut text so no piece contains a whole marker: tokenizers match some marks even when
    special parsing is off (user-defined tokens), and document text must never become a mark."""
    pieces = [text] if text else []
    for marker in markers_in(text, tuple(markers)):
        if len(marker) < 2:
            continue
        half = len(marker) // 2
        out: list[str] = []
        for piece in pieces:
            parts = piece.split(marker)
            for i, part in enumerate(parts):
                if i:
                    out.extend([marker[:half], marker[half:]])
                out.append(part)
        pieces = [p for p in out if p]
    return pieces
