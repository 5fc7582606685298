"""The embedding model on onnxruntime: the vectors sentence-transformers gives, without torch.

An installed model folder can hold ``model.onnx``, the transformer exported from its own
weights by ``newsrag models install`` (:func:`export_onnx`, nothing from a hub) and checked
against sentence-transformers on the way (every verification text at cosine >= 0.9999). With
it, :class:`OnnxEmbedder` tokenizes with the folder's ``tokenizer.json`` (the ``tokenizers``
library, as sentence-transformers' fast tokenizer does), runs the graph, mean-pools and
normalises: fp32, the same vectors, so an index written by one runtime is read by the other
(the model's label does not change). Measured on 2 cores (multilingual-e5-small): one query
16-38 ms against 22-225 ms for torch through sentence-transformers, and the server never
imports torch (see README, Measured).

Only models that are a transformer, mean pooling and normalisation (the e5 family) are
exported; others (EmbeddingGemma's dense layers) stay on torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from .models import ModelSpec

ONNX_FILE = "model.onnx"
MIN_COSINE = 0.9999  # the exported graph against sentence-transformers, every text
PAD_ID = 1  # XLM-RoBERTa's <pad>, as sentence-transformers pads (masked out)
BATCH_TOKENS = 8192  # tokens per run when embedding many texts (ingest): batches by length


def exportable(folder: Path) -> bool:
    """Whether the folder is a sentence-transformers transformer + mean pooling + normalize."""
    try:
        modules = json.loads((folder / "modules.json").read_text("utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    means = pooling.get("pooling_mode_mean_tokens") and not any(
        v
        for k, v in pooling.items()
        if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    return kinds == ["Transformer", "Pooling", "Normalize"] and bool(means)


def export_onnx(folder: Path, texts: Sequence[str]) -> dict[str, Any]:
    """Write ``folder/model.onnx`` from the folder's own weights and check it (ModelError if
    its vectors differ from sentence-transformers' on ``texts``). Needs torch and onnx, which
    only installing does."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    transformer = model[0].auto_model
    assert isinstance(transformer, torch.nn.Module)
    transformer.eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    ids = torch.tensor([[0, 6, 7, 2]])
    target = folder / ONNX_FILE
    axes = {0: "batch", 1: "tokens"}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on indexing and tracing
        torch.onnx.export(
            Hidden(transformer), (ids, torch.ones_like(ids)), str(target),
            input_names=["input_ids", "attention_mask"], output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    prompts = {k: v for k, v in model.prompts.items() if v}
    onnx = OnnxEmbedder(folder, label="check", prompts=prompts)
    cosines = []
    for query in (True, False):
        encode = model.encode_query if query else model.encode_document
        reference = encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)  # fmt: skip
        ours = onnx.embed_queries(texts) if query else onnx.embed_documents(texts)
        cosines += (np.asarray(reference) * ours).sum(axis=1).tolist()
    low = min(cosines)
    if low < MIN_COSINE:
        target.unlink(missing_ok=True)
        raise ModelError(
            f"The onnx export of {folder} gives vectors at cosine {low:.6f} to "
            f"sentence-transformers' (below {MIN_COSINE}); it was not kept, the model runs on "
            "torch. Report this with the model's name."
        )
    return {"file": ONNX_FILE, "min_cosine": round(low, 6), "comparisons": len(cosines),
            "threshold": MIN_COSINE, "opset": 17}  # fmt: skip


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
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .embedding import VectorCache

        path = folder / ONNX_FILE
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers mean nothing here
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # a damaged or partial file: reinstalling fixes it
            raise ModelError(
                f"Could not load {path} with onnxruntime ({type(exc).__name__}: "
                f"{str(exc)[:200]}); reinstall the model with `newsrag models install NAME "
                "--force`, or set NEWSRAG_EMBEDDING_RUNTIME=torch."
            ) from exc
        self._counter.no_truncation()
        self._counter.no_padding()
        config = _json(folder / "sentence_bert_config.json")
        self.max_tokens = int(config.get("max_seq_length") or 512)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
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
        encodings = self._tokenizer.encode_batch([prompt + t for t in texts])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # texts of like length run together: less padding (the longest sets a batch's width)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        start = 0
        while start < len(order):
            end = start + 1  # ascending: the next text is the widest of the batch so far
            while (
                end < len(order)
                and (end - start + 1) * len(encodings[order[end]].ids) <= BATCH_TOKENS
            ):
                end += 1
            batch = order[start:end]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.full((len(batch), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
            start = end
        return out

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["document"])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self._encode(texts, self._prompts["query"])
        # one question is embedded by the retriever and again by the answerer: remember it
        return self._queries.vectors(texts, lambda m: self._encode(m, self._prompts["query"]))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
