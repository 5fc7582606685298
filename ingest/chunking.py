"""Sentence-aware chunking, sized in the embedding model's own tokens.

Each chunk is a character span of the article's text, so a citation can show exactly the
passage that was retrieved. Chunks end on sentence boundaries; the next chunk repeats the
last sentences of the previous one up to ``overlap`` tokens. A sentence longer than a whole
chunk is cut at word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.sentences import split_sentences
from rag.types import Chunk, chunk_id

CountTokens = Callable[[Sequence[str]], list[int]]

# bump when the chunking changes, so every article is re-chunked on the next ingest
CHUNKER_VERSION = 2

_LINE = re.compile(r"[^\n]+")


def sentence_spans(text: str, lang: str = "en") -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text``; every line is at least one span.

    ``lang`` is accepted for languages that may need their own rules later; the Italian and
    English rules are the same (see ingest/sentences.py).
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        spans.extend((line.start() + a, line.start() + b) for a, b in split_sentences(line.group()))
    return spans


def _split_long(
    text: str, span: tuple[int, int], n_tokens: int, max_tokens: int
) -> list[tuple[int, int]]:
    """Cut one over-long sentence at whitespace into pieces of about ``max_tokens``."""
    start, end = span
    pieces = -(-n_tokens // max_tokens)  # ceil
    width = (end - start) / pieces
    out: list[tuple[int, int]] = []
    cursor = start
    for i in range(1, pieces):
        target = int(start + i * width)
        cut = text.rfind(" ", cursor + 1, target + 1)
        if cut <= cursor:
            cut = target
        out.append((cursor, cut))
        cursor = cut + 1 if text[cut : cut + 1] == " " else cut
    out.append((cursor, end))
    return [(a, b) for a, b in out if b > a]


def chunk_spans(
    text: str, lang: str, count_tokens: CountTokens, max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Pack sentences greedily into spans of at most ``max_tokens`` tokens."""
    sentences = sentence_spans(text, lang)
    if not sentences:
        return []
    counts = count_tokens([text[a:b] for a, b in sentences])
    units: list[tuple[int, int]] = []
    sizes: list[int] = []
    for span, n in zip(sentences, counts, strict=True):
        if n > max_tokens:
            parts = _split_long(text, span, n, max_tokens)
            units.extend(parts)
            sizes.extend(count_tokens([text[a:b] for a, b in parts]))
        else:
            units.append(span)
            sizes.append(n)

    out: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + sizes[j] <= max_tokens):
            total += sizes[j]
            j += 1
        out.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        k, repeated = j, 0
        while k - 1 > i and repeated + sizes[k - 1] <= overlap:
            repeated += sizes[k - 1]
            k -= 1
        i = k
    return out


def embed_header(title: str, span_text: str) -> str:
    """The title gives a passage its context; it is not repeated when the span starts with it."""
    title = title.strip()[:160]
    if not title or span_text.startswith(title):
        return span_text
    return f"{title}\n\n{span_text}"


def chunk_article(
    article_id: str,
    text: str,
    *,
    title: str,
    lang: str,
    count_tokens: CountTokens,
    max_tokens: int,
    overlap: int,
) -> list[Chunk]:
    chunks = []
    for n, (start, end) in enumerate(chunk_spans(text, lang, count_tokens, max_tokens, overlap)):
        span = text[start:end]
        chunks.append(
            Chunk(
                id=chunk_id(article_id, n),
                article_id=article_id,
                n=n,
                start=start,
                end=end,
                text=span,
                embed_text=embed_header(title, span),
            )
        )
    return chunks
