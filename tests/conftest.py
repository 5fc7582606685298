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
