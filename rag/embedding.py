"""Embedding models: one small protocol, one real implementation over sentence-transformers.

Queries and documents are encoded by separate calls so each gets the model's own prompt
(``query: `` / ``passage: `` for e5, ``task: search result | query: `` for EmbeddingGemma).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from .errors import ModelError
from .models import ModelSpec, ResolvedModel, resolve
from .onnx_embedder import ONNX_FILE, OnnxEmbedder
from .vector_cache import VectorCache

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the rest of newsrag needs from an embedding model.

    Vectors are float32, L2-normalised, one row per text. ``label`` identifies the model in
    the index so that an index is never queried with vectors from another model.
    """

    label: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class ModelEmbedder(Embedder, Protocol):
    """An embedder of a model that may be in the catalogue (rag/models.py): its spec carries
    the calibrated thresholds and the language centroids."""

    spec: ModelSpec | None


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a local folder or, where a hub is reachable, a hub id."""

    def __init__(
        self,
        resolved: ResolvedModel,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        cache_dir: Path | None = None,
        quantize: str = "none",
        precision: str = "fp32",
    ) -> None:
        if not resolved.local:
            _require_hub(resolved)  # before the slow imports: a missing model fails in a second
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-load bar on stderr means nothing to our users

        try:
            model = SentenceTransformer(
                resolved.name_or_path,
                device=device,
                cache_folder=str(cache_dir) if cache_dir else None,
                local_files_only=resolved.local,
            )
        except Exception as exc:  # unknown hub id, missing files, bad folder: all user-fixable
            raise ModelError(
                f"Could not load the embedding model {resolved.name_or_path!r} "
                f"({type(exc).__name__}: {str(exc)[:200]}); {_hint(resolved)}."
            ) from exc
        if resolved.spec:
            # registry models know their prompts even when a hub copy's config lacks them
            for key, prompt in resolved.spec.prompts.items():
                model.prompts.setdefault(key, prompt)
        if quantize == "int8":
            _quantize_int8(model)
        self._model = model
        self._batch_size = batch_size
        self.spec = resolved.spec
        self.label = resolved.label + ("+int8" if quantize == "int8" else "")
        dim = model.get_embedding_dimension()
        if not dim:
            raise ModelError(f"The model {resolved.name_or_path!r} does not report a dimension.")
        self.dim = int(dim)
        self.max_tokens = int(model.max_seq_length or 512)
        self._queries = VectorCache(256)
        # documents only: a question is one short text, and its vector stays exactly fp32
        self.precision = "fp32"
        wanted = precision == "bf16" or (precision == "auto" and bf16_in_hardware())
        if wanted and quantize == "none" and device == "cpu":
            self.precision = self._checked_bf16(explicit=precision == "bf16")

    def _encode(self, texts: Sequence[str], *, query: bool, bf16: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        encode = self._model.encode_query if query else self._model.encode_document
        # sentence-transformers sorts each call's texts by length, so batches carry little
        # padding; ingest passes hundreds of chunks per call (Settings.ingest_batch_chunks)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            vectors = encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _checked_bf16(self, *, explicit: bool) -> str:
        """The precision documents are embedded in: "bf16" if the model's vectors with bf16
        matrix products match its fp32 ones on :data:`BF16_CHECK_TEXTS` (cosine at least
        :data:`BF16_MIN_COSINE`), else "fp32"; an explicit request that does not match is a
        ModelError."""
        exact = self._encode(BF16_CHECK_TEXTS, query=False)
        fast = self._encode(BF16_CHECK_TEXTS, query=False, bf16=True)
        worst = float(np.min(np.sum(exact * fast, axis=1)))
        if worst >= BF16_MIN_COSINE:
            log.info("embedding documents with bf16 matrix products (cosine to fp32 %.6f)", worst)
            return "bf16"
        if explicit:
            raise ModelError(
                f"With bf16 matrix products {self.label} gives vectors at cosine {worst:.5f} "
                f"to its fp32 ones (at least {BF16_MIN_COSINE} is needed to share an index); "
                "set NEWSRAG_EMBED_PRECISION=fp32."
            )
        log.info("embedding documents in fp32: bf16 gave cosine %.6f to fp32", worst)
        return "fp32"

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False, bf16=self.precision == "bf16")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._queries.question(texts, lambda batch: self._encode(batch, query=True))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False)
        return [len(ids) for ids in encoded["input_ids"]]


BF16_MIN_COSINE = 0.9999
# what bf16 is checked on when a model loads: a short text, a long one, and both languages
BF16_CHECK_TEXTS: tuple[str, ...] = (
    "Gunmen attacked the army base at Acharan on Wednesday; the group later claimed it.",
    "Il ministero della Difesa ha confermato che la colonna era diretta verso il confine. " * 12,
    "Fighting resumed near the river crossing after the talks in Geneva stalled, officials "
    "said, and aid convoys waited at the border for a second week. " * 6,
)


def bf16_in_hardware() -> bool:
    """Whether the CPU multiplies bf16 matrices in hardware (Intel AMX). There bf16 matrix
    products embed chunks about 1.8x faster than fp32 with vectors at cosine 0.99999 to the fp32
    ones (64 FA-KES chunks, multilingual-e5-small); elsewhere they may be slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and " amx_bf16" in line for line in f)
    except OSError:
        return False


def _hint(resolved: ResolvedModel) -> str:
    if resolved.spec:
        return (
            f"run `newsrag models install {resolved.spec.name}`, or point NEWSRAG_MODELS_DIR at "
            "the folder that holds it"
        )
    return (
        "check the NEWSRAG_EMBEDDING_MODEL setting (a model name from `newsrag models list`, "
        "a sentence-transformers hub id, or a local folder)"
    )


def _require_hub(resolved: ResolvedModel, timeout: float = 3.0) -> None:
    """Fail in seconds when the hub cannot be reached, instead of after a minute of retries."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    url = urlparse(endpoint)
    try:
        if offline:
            raise OSError("HF_HUB_OFFLINE is set")
        socket.create_connection(
            (url.hostname or "huggingface.co", url.port or 443), timeout=timeout
        ).close()
    except OSError as exc:
        where = "models folder" if resolved.spec else "local folder"
        raise ModelError(
            f"The embedding model {resolved.name_or_path!r} is not in the {where} and the "
            f"Hugging Face hub ({endpoint}) cannot be reached ({exc}); {_hint(resolved)}."
        ) from exc


def _quantize_int8(model: Any) -> None:
    """Dynamic int8 weights (per output channel) for the transformer's linear layers.

    The feed-forward output projections stay in full precision: their inputs carry the
    activation outliers that int8 rounds badly. Measured on e5-small over FA-KES chunks:
    1.55x the fp32 throughput, cosine to fp32 min 0.994 / mean 0.997 (all layers: 2.3x but
    mean 0.986).
    """
    import warnings

    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:
        raise ModelError(
            "This torch build has no dynamic quantization; set NEWSRAG_QUANTIZE=none."
        ) from exc
    transformer = model[0]
    linear = [
        name
        for name, mod in transformer.model.named_modules()
        if isinstance(mod, torch.nn.Linear)
        and "pooler" not in name
        and not (name.endswith("output.dense") and "attention" not in name)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        # in place: a copy would hold both precisions in memory at once
        quantize_dynamic(
            transformer.model, dict.fromkeys(linear, per_channel_dynamic_qconfig), inplace=True
        )


class LazyEmbedder:
    """A SentenceTransformerEmbedder loaded on its first use, not when it is made.

    An ingest or a sync that finds nothing new never embeds, but loading the model costs
    10-15 s of imports and weights (an unchanged ``newsrag ingest`` of data/sample: 10-12.6 s
    of wall time, 0.1 s of it ingesting). Its label and, for a named model, its dimension are
    known without loading, which is all the index needs to check the model; anything else
    (``embed_*``, ``count_tokens``, ``max_tokens``, and ``dim`` of a model without a spec)
    loads it, once, and ``loaded`` says whether that happened. ``check_reachable`` is the
    eager load's first step, which fails in a second for a model that is neither installed
    nor reachable on the hub.
    """

    def __init__(
        self,
        resolved: ResolvedModel,
        load: Callable[[], ModelEmbedder],
        *,
        label: str,
    ) -> None:
        self.spec = resolved.spec
        self.label = label
        self._resolved = resolved
        self._load = load
        self._model: ModelEmbedder | None = None
        self._lock = threading.Lock()

    def check_reachable(self) -> LazyEmbedder:
        """Fails now (ModelError with the fix) if the model is neither here nor reachable."""
        if not self._resolved.local:
            _require_hub(self._resolved)
        return self

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> ModelEmbedder:
        """The real embedder, loaded now if it was not yet."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @property
    def dim(self) -> int:
        if self._model is None and self.spec is not None:
            return self.spec.dim
        return self.model().dim

    @property
    def max_tokens(self) -> int:
        return self.model().max_tokens

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.model().embed_documents(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.model().embed_queries(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.model().count_tokens(texts)


def load_embedder(
    model: str,
    models_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 16,
    quantize: str = "none",
    runtime: str = "auto",
    precision: str = "fp32",
) -> ModelEmbedder:
    """Resolve a model setting (registry name, hub id or folder) and load it."""
    return lazy_embedder(
        model, models_dir, device=device, batch_size=batch_size, quantize=quantize,
        runtime=runtime, precision=precision,
    ).model()  # fmt: skip


def lazy_embedder(
    model: str,
    models_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 16,
    quantize: str = "none",
    runtime: str = "auto",
    precision: str = "fp32",
) -> LazyEmbedder:
    """Resolve a model setting (registry name, hub id or folder); load it when first used.

    ``runtime``: "onnx" runs the folder's export (rag/onnx_embedder.py), "torch"
    sentence-transformers, "auto" the export when there is one and the vectors are fp32."""
    resolved = resolve(model, models_dir)
    exported = resolved.local and (Path(resolved.name_or_path) / ONNX_FILE).is_file()
    if runtime == "onnx" and not exported:
        raise ModelError(
            f"NEWSRAG_EMBEDDING_RUNTIME=onnx, but {resolved.name_or_path} has no {ONNX_FILE}; "
            f"reinstall the model with `newsrag models install NAME --force` (it writes the "
            "export), or set NEWSRAG_EMBEDDING_RUNTIME=auto."
        )
    if runtime == "onnx" and quantize != "none":
        raise ModelError("NEWSRAG_QUANTIZE=int8 runs on torch; set NEWSRAG_EMBEDDING_RUNTIME=auto.")
    use_onnx = exported and quantize == "none" and device == "cpu" and runtime != "torch"

    def load() -> ModelEmbedder:
        log.info(
            "loading embedding model %s from %s (%s)", resolved.label, resolved.name_or_path,
            "onnxruntime" if use_onnx else "torch",
        )  # fmt: skip
        if use_onnx:
            prompts = dict(resolved.spec.prompts) if resolved.spec else {}
            return OnnxEmbedder(
                Path(resolved.name_or_path), label=resolved.label, prompts=prompts,
                spec=resolved.spec,
            )  # fmt: skip
        return SentenceTransformerEmbedder(
            resolved,
            device=device,
            batch_size=batch_size,
            cache_dir=models_dir / "hub",
            quantize=quantize,
            precision=precision,
        )

    # named as SentenceTransformerEmbedder names itself once loaded
    label = resolved.label + ("+int8" if quantize == "int8" else "")
    return LazyEmbedder(resolved, load, label=label)
