"""The embedding model on onnxruntime: the vectors sentence-transformers gives, without torch.

An installed model folder can hold ``model.onnx``, the transformer exported from its own
weights by ``newsrag models install`` (provision/onnx_export.py, nothing from a hub) and checked
against sentence-transformers on the way (every verification text at cosine >= 0.9999). With
it, :class:`OnnxEmbedder` tokenizes with the folder's ``tokenizer.json`` (the ``tokenizers``
library, as sentence-transformers' fast tokenizer does), runs the graph, mean-pools and
normalises: fp32, the same vectors, so an index written by one runtime is read by the other
(the model's label does not change). Measured on 2 quiet cores (multilingual-e5-small): one
question in 12-15 ms against 22 ms or more for torch through sentence-transformers, and the
server never imports torch (see README, Measured). Whole chunks of 200-500 tokens are slower
than on torch (1,568 against 2,262 tokens/s), so a local ingest stays on torch under ``auto``
(app/compose.py).

Only models that are a transformer, mean pooling and normalisation (the e5 family) are
exported; others (EmbeddingGemma's dense layers) stay on torch.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError
from .vector_cache import VectorCache

if TYPE_CHECKING:
    from .models import ModelSpec

ONNX_FILE = "model.onnx"
PAD_ID = 1  # XLM-RoBERTa's <pad>, as sentence-transformers pads (masked out)
BATCH_TOKENS = 4096  # tokens per run when embedding many texts (ingest): batches by length


class OnnxEmbedder:
    """An exported model folder on onnxruntime (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        *,
        label: str,
        prompts: dict[str, str],
        spec: ModelSpec | None = None,
        threads: int | None = None,
    ) -> None:
        path = folder / ONNX_FILE
        try:
            self._session = onnx_session(path, threads)
            # one tokenizer, never truncating (counting must not): a tokenizer of this model
            # holds about 280 MB, so embedding truncates its ids itself (``_truncated``)
            self._tokenizer = tokenizer_of(folder)
        except Exception as exc:  # a damaged or partial file: reinstalling fixes it
            raise ModelError(
                f"Could not load {path} with onnxruntime ({type(exc).__name__}: "
                f"{str(exc)[:200]}); reinstall the model with `newsrag models install NAME "
                "--force`, or set NEWSRAG_EMBEDDING_RUNTIME=torch."
            ) from exc
        config = _json(folder / "sentence_bert_config.json")
        self.max_tokens = int(config.get("max_seq_length") or 512)
        self.label = label
        self.spec = spec
        self.dim = int(spec.dim if spec else _json(folder / "config.json").get("hidden_size") or 0)
        # the folder's own prompts first, as sentence-transformers reads them
        prompts = {
            **prompts,
            **_json(folder / "config_sentence_transformers.json").get("prompts", {}),
        }
        self._prompts = {"query": prompts.get("query", ""), "document": prompts.get("document", "")}
        self._queries = VectorCache(256)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = [
            self._truncated(e.ids)
            for e in self._tokenizer.encode_batch([prompt + t for t in texts])
        ]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # texts of like length run together: less padding (the longest sets a batch's width)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        start = 0
        while start < len(order):
            end = start + 1  # ascending: the next text is the widest of the batch so far
            while (
                end < len(order) and (end - start + 1) * len(encodings[order[end]]) <= BATCH_TOKENS
            ):
                end += 1
            batch = order[start:end]
            ids, mask = padded([encodings[i] for i in batch])
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
            start = end
        return out

    def _truncated(self, ids: list[int]) -> list[int]:
        """As the tokenizer truncates to the model's length: the text's end is cut, the closing
        special token kept."""
        if len(ids) <= self.max_tokens:
            return ids
        return [*ids[: self.max_tokens - 1], ids[-1]]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["document"])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._queries.question(
            texts, lambda batch: self._encode(batch, self._prompts["query"])
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]


def onnx_session(path: Path, threads: int | None = None, *, spinning: bool = True) -> Any:
    """An onnxruntime CPU session for ``path`` on ``threads`` (all cores by default).
    ``spinning=False``: its threads sleep between runs instead of spinning, for a model run
    between another's runs (the answer judge between the embedder's)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    # onnxruntime writes its warnings to stderr itself, past Python's logging (and its JSON
    # format): only errors
    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers mean nothing here
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def padded(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of several texts as one batch: ``input_ids`` padded with ``PAD_ID`` to the
    longest, and the ``attention_mask`` that hides the padding."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def tokenizer_of(folder: Path) -> Any:
    """The model folder's ``tokenizer.json``, loaded once per process and shared by the
    embedder and the answer judge (one of this model's holds about 280 MB); it never truncates
    or pads: each caller cuts its ids itself."""
    return _tokenizer(Path(folder).resolve() / "tokenizer.json")


@functools.cache
def _tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
