"""The citation guard every answer passes through, whichever answerer wrote it.

- ``[n]`` markers that point to no given passage are removed (``[7]`` with 5 passages, an
  article that asks to cite ``[99]``), and ``[1, 3]`` becomes ``[1][3]``.
- An answer without any marker gets its citations attached: each sentence cites the passage
  it is most similar to, when that similarity is convincing.
- Markers are renumbered 1, 2, 3… in order of first use, and each one gets a Citation with the
  passage's exact span of article text and the sentence in it that supports the claim.
Citations are only ever built from the passages given to the answerer, so an answer cannot
cite what it did not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ..sentences import sentence_spans
from ..types import Citation, Passage
from ..words import tokenize
from .claims import check_claims

MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
# similarity of texts_a (rows) to texts_b (columns); higher is more similar
Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]

ATTACH_MIN_OVERLAP = 0.35  # share of an answer sentence's words found in the passage
ATTACH_MIN_SIMILARITY = 0.80  # cosine, multilingual e5 scale, when lexical overlap fails


def _overlap(a: str, b_tokens: set[str], lang: str) -> float:
    tokens = set(tokenize(a, lang))
    return len(tokens & b_tokens) / len(tokens) if tokens else 0.0


def guard(
    answer: str,
    passages: Sequence[Passage],
    *,
    lang: str,
    similarity: Similarity | None = None,
    check: bool = False,
) -> tuple[str, tuple[Citation, ...]]:
    """Returns the answer with valid, renumbered markers and its citations; with ``check``,
    each sentence's names and numbers are checked against the passages first
    (rag/answer/claims.py)."""
    n_passages = len(passages)

    def keep_valid(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        return "".join(f"[{n}]" for n in numbers if 1 <= n <= n_passages)

    text = MARKER.sub(keep_valid, answer)
    # "claim. [1]" → "claim [1].": a marker belongs to the sentence before it
    text = re.sub(r"([.!?…])([ \t]*)((?:\[\d+\])+)", r" \3\1", text)
    text = re.sub(r"[ \t]+(?=[.,;:!?])", "", re.sub(r"[ \t]{2,}", " ", text)).strip()
    if not MARKER.search(text) and text and passages:
        text = _attach(text, passages, lang, similarity)
    if check:
        text = check_claims(text, passages, lang)

    order: dict[int, int] = {}
    for m in MARKER.finditer(text):
        order.setdefault(int(m.group(1)), len(order) + 1)
    text = MARKER.sub(lambda m: f"[{order[int(m.group(1))]}]", text)
    citations = tuple(
        _citation(new, passages[old - 1], _claims_citing(text, new), lang)
        for old, new in sorted(order.items(), key=lambda kv: kv[1])
    )
    return text, citations


def _attach(
    text: str, passages: Sequence[Passage], lang: str, similarity: Similarity | None
) -> str:
    spans = sentence_spans(text)
    sentences = [text[a:b] for a, b in spans]
    passage_tokens = [set(tokenize(p.text, p.lang)) | set(tokenize(p.text, lang)) for p in passages]
    sims = similarity(sentences, [p.text for p in passages]) if similarity and sentences else None
    out, cursor = [], 0
    for i, (_, b) in enumerate(spans):
        overlaps = [_overlap(sentences[i], toks, lang) for toks in passage_tokens]
        best = int(np.argmax(overlaps))
        ok = overlaps[best] >= ATTACH_MIN_OVERLAP
        if not ok and sims is not None:
            best = int(np.argmax(sims[i]))
            ok = float(sims[i][best]) >= ATTACH_MIN_SIMILARITY
        out.append(text[cursor:b])
        if ok:
            end = len(out[-1].rstrip(".!?…"))
            out[-1] = out[-1][:end] + f" [{best + 1}]" + out[-1][end:]
        cursor = b
    out.append(text[cursor:])
    return "".join(out)


def _claims_citing(text: str, n: int) -> list[str]:
    """The answer sentences that carry the marker ``[n]``."""
    marker = f"[{n}]"
    return [
        MARKER.sub("", text[a:b]).strip() for a, b in sentence_spans(text) if marker in text[a:b]
    ] or [MARKER.sub("", text)]


def _citation(n: int, p: Passage, claims: list[str], lang: str) -> Citation:
    spans = sentence_spans(p.text)
    highlight = None
    for claim in claims:  # a quotation (the extractive answerer's) is highlighted as such
        at = p.text.find(claim.rstrip(" .")) if len(claim) > 20 else -1
        if at >= 0:
            highlight = next(((a, b) for a, b in spans if a <= at < b), None)
            break
    if highlight is None and spans:
        claim_tokens: set[str] = set()
        for claim in claims:
            claim_tokens |= set(tokenize(claim, lang)) | set(tokenize(claim, p.lang))
        scores = [len(claim_tokens & set(tokenize(p.text[a:b], p.lang))) for a, b in spans]
        best = int(np.argmax(scores))
        if scores[best] > 0:
            highlight = spans[best]
    return Citation(
        n=n, article_id=p.article_id, chunk_id=p.chunk_id, title=p.title, date=p.date,
        url=p.url, lang=p.lang, source=p.source, quote=p.text, start=p.start, end=p.end,
        highlight=highlight, also_in=p.also_in,
    )  # fmt: skip
