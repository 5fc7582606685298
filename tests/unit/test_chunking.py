from __future__ import annotations

import json
from itertools import pairwise

import pytest

from ingest.chunking import chunk_article, chunk_spans, embed_header, sentence_spans
from tests.fakes import HashEmbedder

count = HashEmbedder().count_tokens


def test_sentence_spans_point_into_the_text_in_italian_and_english():
    text = (
        "Il Sig. Rossi è arrivato a Roma. Ha detto: «Siamo pronti». Poi è ripartito.\n\n"
        "The U.S. envoy met Gen. Smith on Monday. Talks ended at 5 p.m. without a deal."
    )
    it_spans = sentence_spans(text, "it")
    pieces = [text[a:b] for a, b in it_spans]
    assert pieces[0] == "Il Sig. Rossi è arrivato a Roma."
    assert "Poi è ripartito." in pieces
    en = [text[a:b] for a, b in sentence_spans(text, "en")]
    assert "The U.S. envoy met Gen. Smith on Monday." in en
    # spans never overlap and stay in order
    assert all(b1 <= a2 for (_, b1), (a2, _) in pairwise(it_spans))


def test_lines_without_final_punctuation_are_their_own_sentences():
    text = "Siria, Isis implode a Deir Ezzor\nL'esecuzione di 7 fuggitivi scatena una sparatoria."
    pieces = [text[a:b] for a, b in sentence_spans(text, "it")]
    assert pieces == [
        "Siria, Isis implode a Deir Ezzor",
        "L'esecuzione di 7 fuggitivi scatena una sparatoria.",
    ]


def _article(n_sentences: int, words: int = 9) -> str:
    return " ".join(
        f"Sentence {i} " + " ".join(f"w{i}x{j}" for j in range(words - 3)) + " end."
        for i in range(n_sentences)
    )


def test_chunks_respect_the_token_budget_end_on_sentences_and_overlap():
    text = _article(30)  # 30 sentences of 9 words
    spans = chunk_spans(text, "en", count, max_tokens=40, overlap=10)
    assert len(spans) > 5
    for a, b in spans:
        assert count([text[a:b]])[0] <= 40
        assert text[b - 1] == "."  # ends on a sentence boundary
        assert a == 0 or text[a - 1] == " "
    # consecutive chunks share exactly one 9-word sentence (the overlap budget is 10 tokens)
    for (_, b1), (a2, _) in pairwise(spans):
        assert a2 < b1
        assert count([text[a2:b1]])[0] == 9
    # together the chunks cover every sentence
    assert spans[0][0] == 0 and spans[-1][1] == len(text)


def test_zero_overlap_gives_disjoint_chunks():
    text = _article(12)
    spans = chunk_spans(text, "en", count, max_tokens=30, overlap=0)
    assert all(b1 <= a2 for (_, b1), (a2, _) in pairwise(spans))


def test_a_sentence_longer_than_a_chunk_is_cut_at_word_boundaries():
    long_sentence = " ".join(f"parola{i}" for i in range(130)) + "."
    text = "Breve inizio. " + long_sentence + " Fine."
    spans = chunk_spans(text, "it", count, max_tokens=50, overlap=0)
    covered = " ".join(text[a:b] for a, b in spans)
    for i in range(130):
        assert f"parola{i}" in covered.split() or f"parola{i}." in covered.split()
    for a, b in spans:
        assert count([text[a:b]])[0] <= 50
        assert text[a:b] == text[a:b].strip()


def test_chunk_article_keeps_offsets_ids_and_a_title_header():
    text = _article(20)
    chunks = chunk_article(
        "fakes:1",
        text,
        title="Aleppo siege",
        lang="en",
        count_tokens=count,
        max_tokens=40,
        overlap=0,
    )
    assert [c.id for c in chunks] == [f"fakes:1:{i}" for i in range(len(chunks))]
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.embed_text == f"Aleppo siege\n\n{c.text}"


def test_header_is_not_repeated_when_the_span_starts_with_the_title():
    assert embed_header("Aleppo siege", "Aleppo siege ends. More.") == "Aleppo siege ends. More."
    assert embed_header("", "Text.") == "Text."


def test_empty_text_gives_no_chunks():
    assert (
        chunk_article(
            "a", "  \n ", title="t", lang="en", count_tokens=count, max_tokens=40, overlap=0
        )
        == []
    )


@pytest.mark.slow
def test_real_articles_chunk_within_the_model_budget(shared_data, e5_embedder):
    path = shared_data / "sample" / "fakes_syria_en.passages.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    for row in rows[:20]:
        chunks = chunk_article(
            row["id"],
            row["text"],
            title=row["title"],
            lang="en",
            count_tokens=e5_embedder.count_tokens,
            max_tokens=200,
            overlap=40,
        )
        assert chunks, row["id"]
        sizes = e5_embedder.count_tokens([c.text for c in chunks])
        assert max(sizes) <= 200
        assert chunks[0].start == 0 and chunks[-1].end == len(row["text"].rstrip())
