"""The optional cross-encoder reranker, with a tiny real CrossEncoder built here."""

from __future__ import annotations

import shutil

import pytest

from rag.errors import ModelError
from rag.rerank import CrossEncoderReranker
from rag.types import Passage
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    e5 = MODELS_DIR / "multilingual-e5-small"
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    torch.manual_seed(1)
    config = XLMRobertaConfig(
        vocab_size=250037, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514, num_labels=1,
    )  # fmt: skip
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(e5 / name, folder / name)
    return folder


def passage(n: int, text: str) -> Passage:
    return Passage(
        chunk_id=f"a{n}:0", article_id=f"a{n}", text=text, start=0, end=len(text),
        title=f"t{n}", date="2020-01-01", lang="en", source=None, url=None, story_id=None,
        score=1.0 - n / 10, dense=0.9 - n / 100,
    )  # fmt: skip


TEXTS = [
    "Islamic State cells attack near Deir Ezzor.",
    "Rain is expected in the north tomorrow.",
    "JNIM attacked the base of Acharan in Mali.",
    "French troops left Mali in August 2022.",
]


def test_passages_are_reordered_by_the_cross_encoder_scores(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    query = "who attacked the base?"
    given = [passage(n, t) for n, t in enumerate(TEXTS)]
    ranked = CrossEncoderReranker(str(tiny_cross_encoder)).rerank(query, given)

    scores = CrossEncoder(str(tiny_cross_encoder)).predict([(query, t) for t in TEXTS])
    expected = [TEXTS[i] for i in sorted(range(len(TEXTS)), key=lambda i: -scores[i])]
    assert [p.text for p in ranked] == expected
    assert [p.score for p in ranked] == pytest.approx(sorted(map(float, scores), reverse=True))
    # the dense similarity (what the refusal threshold reads) is kept as it was
    assert {p.chunk_id: p.dense for p in ranked} == {p.chunk_id: p.dense for p in given}


def test_nothing_to_rerank(tiny_cross_encoder):
    assert CrossEncoderReranker(str(tiny_cross_encoder)).rerank("q", []) == []


def test_a_missing_reranker_names_the_setting(tmp_path):
    with pytest.raises(ModelError, match="NEWSRAG_RERANKER"):
        CrossEncoderReranker(str(tmp_path / "no-such-model"))


def test_the_engine_uses_the_reranker_when_set(
    tiny_cross_encoder, tmp_path, e5_embedder, seeds_dir
):
    from app.compose import engine_parts
    from ingest.sync import Ingestor
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings

    settings = Settings(index_dir=tmp_path / "index", reranker=str(tiny_cross_encoder))
    index = ArchiveIndex.open(settings, model_label=e5_embedder.label, dim=e5_embedder.dim)
    Ingestor(index, e5_embedder).run([seeds_dir], max_bytes=10**7)
    index.close()
    parts = engine_parts(settings)
    try:
        assert parts.engine.reranker is not None
        turn = parts.engine.ask("where is Isis still active in Syria?")
        assert "rerank_ms" in turn.timings
        given = {p.chunk_id for p in turn.passages}
        assert all(c.chunk_id in given for c in turn.citations)
    finally:
        parts.close()
