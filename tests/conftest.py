from __future__ import annotations

import os
from pathlib import Path

import pytest

# no telemetry and no hub from any test (see ENVIRONMENT.md)
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see ui/cli.py: spinning threads under load

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MODELS_DIR = REPO / "data" / "models"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the tests read the real data in ../shared beside the repo")
    return path


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SHARED / "seeds"


@pytest.fixture(scope="session")
def e5_embedder():
    """The real converted multilingual-e5-small, installed by `make setup`; loaded once."""
    from rag.embedding import load_embedder

    folder = MODELS_DIR / "multilingual-e5-small"
    if not (folder / "newsrag-model.json").exists():
        pytest.fail(f"{folder} is not installed: run `make setup` (it installs the model)")
    return load_embedder("multilingual-e5-small", MODELS_DIR)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Tests never read the developer's .env or NEWSRAG_* variables, nor write to data/index."""
    for key in list(os.environ):
        if key.startswith("NEWSRAG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("NEWSRAG_MODELS_DIR", str(MODELS_DIR))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fetch_loopback(monkeypatch):
    """Syncs may fetch from the loopback test sites (tests/web_site.py): NEWSRAG_FETCH_ALLOW,
    for this process and the servers and commands it starts. Never the default: a sync
    refuses loopback and private addresses (ingest/web/guard.py)."""
    from tests.web_site import LOOPBACK

    monkeypatch.setenv("NEWSRAG_FETCH_ALLOW", LOOPBACK)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny real sentence-transformers model (1 layer, 32-d, e5's tokenizer), built here.

    Fast enough to embed thousands of chunks in seconds; its vectors mean little, so tests use
    it for plumbing (CLI, counts, servers), never for retrieval quality.
    """
    import shutil

    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import XLMRobertaConfig, XLMRobertaModel

    e5 = MODELS_DIR / "multilingual-e5-small"
    if not (e5 / "tokenizer.json").exists():
        pytest.fail(f"{e5} is not installed: run `make setup`")
    folder = tmp_path_factory.mktemp("tiny-model")
    hf = folder / "hf"
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=250037, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514,
    )  # fmt: skip
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(hf)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(e5 / name, hf / name)
    transformer = models.Transformer(str(hf), max_seq_length=256)
    pooling = models.Pooling(transformer.get_embedding_dimension(), "mean")
    out = folder / "st"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()]).save(str(out))
    return out
