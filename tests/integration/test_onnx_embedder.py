"""The embedding model on onnxruntime gives sentence-transformers' vectors (rag/onnx_embedder.py).

Over the project's installed multilingual-e5-small (`make setup` writes its model.onnx): the
same vectors for queries and documents, short and past the model's 512 tokens, in any order
of lengths; the same token counts; and the runtime setting chooses, or says what is missing.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from provision.onnx_export import export_onnx, exportable
from rag.embedding import SentenceTransformerEmbedder, lazy_embedder
from rag.errors import ModelError
from rag.onnx_embedder import ONNX_FILE, OnnxEmbedder
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.integration
E5 = "multilingual-e5-small"
TEXTS = [
    "Chi ha attaccato la base di Acharan?",
    "JNIM fighters attacked the military base at Acharan, west of Timbuktu, at dawn.",
    "Nel nord-est della Nigeria le due fazioni nate dalla scissione di Boko Haram si contendono "
    "il controllo delle isole e delle rive del lago Ciad.",
    "Raqqa. " + "The Syrian Democratic Forces took the city after a four-month battle. " * 60,
    "ok",
]


@pytest.fixture(scope="module")
def both():
    folder = MODELS_DIR / E5
    if not (folder / ONNX_FILE).exists():
        pytest.fail(f"{folder} has no {ONNX_FILE}: run `newsrag models install {E5} --force`")
    onnx = lazy_embedder(E5, MODELS_DIR, runtime="onnx").model()
    torch = lazy_embedder(E5, MODELS_DIR, runtime="torch").model()
    assert isinstance(onnx, OnnxEmbedder) and isinstance(torch, SentenceTransformerEmbedder)
    return onnx, torch


def test_the_same_vectors_as_sentence_transformers(both):
    onnx, torch = both
    assert onnx.label == torch.label and onnx.dim == torch.dim == 384
    assert onnx.max_tokens == torch.max_tokens == 512
    for embed in ("embed_queries", "embed_documents"):
        ours, theirs = getattr(onnx, embed)(TEXTS), getattr(torch, embed)(TEXTS)
        assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert (ours * theirs).sum(axis=1).min() >= 0.9999, embed
    # one at a time (a question) gives what the batch gave (rows are put back in order)
    single = np.stack([onnx.embed_documents([t])[0] for t in TEXTS])
    assert (single * onnx.embed_documents(TEXTS)).sum(axis=1).min() >= 0.9999
    # queries and documents get their own prompts
    assert float(onnx.embed_queries(TEXTS[:1])[0] @ onnx.embed_documents(TEXTS[:1])[0]) < 0.999


def test_the_same_token_counts(both):
    onnx, torch = both
    assert onnx.count_tokens(TEXTS) == torch.count_tokens(TEXTS)
    assert onnx.count_tokens(TEXTS)[3] > 512  # counting does not truncate
    assert onnx.count_tokens([]) == []


def test_the_runtime_setting_chooses_and_says_what_is_missing(tmp_path):
    auto = lazy_embedder(E5, MODELS_DIR)
    assert isinstance(auto.model(), OnnxEmbedder)  # the export is there: auto takes it
    assert isinstance(
        lazy_embedder(E5, MODELS_DIR, quantize="int8").model(), SentenceTransformerEmbedder
    )
    # a folder without the export: auto falls back to torch, onnx says how to get it
    bare = tmp_path / "bare-e5"
    shutil.copytree(MODELS_DIR / E5, bare, ignore=shutil.ignore_patterns(ONNX_FILE))
    assert exportable(bare)
    assert isinstance(lazy_embedder(str(bare), MODELS_DIR).model(), SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="models install"):
        lazy_embedder(str(bare), MODELS_DIR, runtime="onnx")
    # a model of another shape is not exported (EmbeddingGemma's dense layers)
    dense = tmp_path / "dense"
    dense.mkdir()
    modules = [{"type": f"sentence_transformers.models.{k}"} for k in
               ("Transformer", "Pooling", "Dense", "Normalize")]  # fmt: skip
    (dense / "modules.json").write_text(json.dumps(modules), "utf-8")
    with pytest.raises(ModelError, match="only shape exported"):
        export_onnx(dense, ["a text"])
    assert not (dense / ONNX_FILE).exists()
    # a damaged export is a clear error, not a crash
    (bare / ONNX_FILE).write_bytes(b"not a model")
    with pytest.raises(ModelError, match=ONNX_FILE):
        lazy_embedder(str(bare), MODELS_DIR, runtime="onnx").model()
