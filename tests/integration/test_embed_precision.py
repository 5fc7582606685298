"""A local ingest may embed chunks with bf16 matrix products (rag/embedding.py, Settings.
embed_precision): its stored vectors stay those of fp32, and nothing else changes precision.

Over the project's installed multilingual-e5-small on torch. bf16 runs on any x86 CPU (slowly
without AMX), so the explicit setting is checked everywhere; "auto" chooses by the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.compose import lazy_embedder_for
from rag import embedding
from rag.config import Settings
from rag.embedding import SentenceTransformerEmbedder, lazy_embedder
from rag.errors import ModelError
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.integration
E5 = "multilingual-e5-small"
CHUNKS = [
    "Raqqa. " + "The Syrian Democratic Forces took the city after a four-month battle. " * 40,
    "Nel nord-est della Nigeria le due fazioni nate dalla scissione di Boko Haram si contendono "
    "il controllo delle isole e delle rive del lago Ciad.",
    "JNIM fighters attacked the military base at Acharan, west of Timbuktu, at dawn.",
]


def model(precision: str) -> SentenceTransformerEmbedder:
    loaded = lazy_embedder(E5, MODELS_DIR, runtime="torch", precision=precision).model()
    assert isinstance(loaded, SentenceTransformerEmbedder)
    return loaded


@pytest.fixture(scope="module")
def fp32_and_bf16():
    return model("fp32"), model("bf16")


def test_bf16_chunks_are_the_fp32_vectors(fp32_and_bf16):
    exact, fast = fp32_and_bf16
    assert (exact.precision, fast.precision) == ("fp32", "bf16")
    assert exact.label == fast.label  # the same index identity
    a, b = exact.embed_documents(CHUNKS), fast.embed_documents(CHUNKS)
    assert a.dtype == b.dtype == np.float32
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= embedding.BF16_MIN_COSINE
    assert not np.array_equal(a, b)  # bf16 did run: the vectors differ in the last digits


def test_questions_stay_fp32(fp32_and_bf16):
    exact, fast = fp32_and_bf16
    q = ["Chi ha attaccato la base di Acharan?", "Who took Raqqa?"]
    assert np.array_equal(exact.embed_queries(q), fast.embed_queries(q))


def test_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(embedding, "bf16_in_hardware", lambda: False)
    assert model("auto").precision == "fp32"
    monkeypatch.setattr(embedding, "bf16_in_hardware", lambda: True)
    assert model("auto").precision == "bf16"


def test_a_model_that_drifts_in_bf16_stays_fp32_or_says_so(monkeypatch):
    monkeypatch.setattr(embedding, "bf16_in_hardware", lambda: True)
    monkeypatch.setattr(embedding, "BF16_MIN_COSINE", 1.5)  # no cosine reaches it
    assert model("auto").precision == "fp32"
    with pytest.raises(ModelError, match="NEWSRAG_EMBED_PRECISION=fp32"):
        model("bf16")


def test_only_a_local_ingest_asks_for_it(monkeypatch, tmp_path):
    monkeypatch.setattr(embedding, "bf16_in_hardware", lambda: True)
    settings = Settings(index_dir=tmp_path, models_dir=MODELS_DIR, embedding_model=E5)
    writer = lazy_embedder_for(settings, writes=True).model()
    reader = lazy_embedder_for(settings.model_copy(update={"embedding_runtime": "torch"})).model()
    assert getattr(writer, "precision", None) == "bf16"
    assert getattr(reader, "precision", None) == "fp32"  # an answer's sentences: fp32
    off = settings.model_copy(update={"embed_precision": "fp32"})
    assert getattr(lazy_embedder_for(off, writes=True).model(), "precision", None) == "fp32"


def _has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _has_gpu(), reason="no CUDA GPU on this machine")
def test_a_gpu_ingest_stores_the_cpu_vectors(tmp_path):
    """NEWSRAG_DEVICE=cuda: the ingest's embedder runs on the GPU, in fp32, and its vectors
    are the CPU's (checked where a GPU machine is at hand, skipped elsewhere)."""
    settings = Settings(index_dir=tmp_path, models_dir=MODELS_DIR, embedding_model=E5,
                        device="cuda")  # fmt: skip
    gpu = lazy_embedder_for(settings, writes=True).model()
    assert isinstance(gpu, SentenceTransformerEmbedder) and gpu.precision == "fp32"
    cpu = model("fp32")
    a, b = cpu.embed_documents(CHUNKS), gpu.embed_documents(CHUNKS)
    assert np.sum(a * b, axis=1).min() >= embedding.BF16_MIN_COSINE
