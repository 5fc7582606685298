"""Export an installed embedding model for onnxruntime (rag/onnx_embedder.py runs it).

``newsrag models install`` calls :func:`export_onnx` after the model is converted and
verified: the transformer is traced from the folder's own weights with ``torch.onnx`` (opset
17; the ``onnx`` package writes the file) into ``model.onnx``, and the export is kept only if
its vectors match sentence-transformers' on every verification text, queries and documents.
Only a transformer + mean pooling + normalisation (the e5 family) is exported.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.judge.model import META_FILE as JUDGE_META
from rag.answer.judge.model import ONNX_FILE as JUDGE_ONNX
from rag.answer.judge.model import AnswerJudge, read_weights
from rag.answer.judge.train import Pairs, cross_encoder
from rag.errors import ModelError
from rag.onnx_embedder import ONNX_FILE, OnnxEmbedder

ONNX_MIN_COSINE = 0.9999  # the exported graph against sentence-transformers, every text


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
    only installing does. A folder of another shape (``exportable``) is refused."""
    import torch
    from sentence_transformers import SentenceTransformer

    if not exportable(folder):
        raise ModelError(
            f"{folder} is not a transformer with mean pooling and normalisation, the only shape "
            "exported for onnxruntime; it runs on torch."
        )
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on indexing and tracing
            torch.onnx.export(
                Hidden(transformer), (ids, torch.ones_like(ids)), str(target),
                input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
                opset_version=17, dynamo=False,
            )  # fmt: skip
    except Exception as exc:  # the exporter or the onnx package: the model stays on torch
        target.unlink(missing_ok=True)
        raise ModelError(
            f"torch could not export {folder} for onnxruntime ({type(exc).__name__}: "
            f"{str(exc)[:200]}); it runs on torch."
        ) from exc
    onnx = OnnxEmbedder(folder, label="check", prompts={})  # it reads the folder's prompts
    cosines = []
    for query in (True, False):
        encode = model.encode_query if query else model.encode_document
        reference = encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)  # fmt: skip
        ours = onnx.embed_queries(texts) if query else onnx.embed_documents(texts)
        cosines += (np.asarray(reference) * ours).sum(axis=1).tolist()
    low = min(cosines)
    if low < ONNX_MIN_COSINE:
        target.unlink(missing_ok=True)
        raise ModelError(
            f"The onnx export of {folder} gives vectors at cosine {low:.6f} to "
            f"sentence-transformers' (below {ONNX_MIN_COSINE}); it was not kept, the model runs on "
            "torch. Report this with the model's name."
        )
    return {"file": ONNX_FILE, "min_cosine": round(low, 6), "comparisons": len(cosines),
            "threshold": ONNX_MIN_COSINE, "opset": 17}  # fmt: skip


JUDGE_CHECK = (  # (question, sentence) pairs the export is checked on, both languages and across
    ("How many soldiers were killed in the ambush?", "The ambush near Djibo killed 12 soldiers."),
    ("Chi ha attaccato la base?", "JNIM claimed the attack on the base at Acharan."),
    ("Where did the plane land?", "L'aereo è atterrato a Singapore dopo dodici ore di volo."),
    ("Quando?", "The talks were held in Geneva on Tuesday, a spokesman said."),
)
JUDGE_MAX_DIFF = 1e-3  # the fp32 graph's logits against torch's, every pair
# the installed graph keeps its word embeddings in int8 (a third of the memory): its logits
# against torch's, every pair (measured 0.036; the sentence it picks changed on 1 of 120
# evaluation passages)
JUDGE_INT8_MAX_DIFF = 0.15


def export_judge(folder: Path, weights: Path) -> dict[str, Any]:
    """Assemble the answer judge from the model in ``folder`` and the trained ``weights``
    (rag/answer/judge/model.py), export it for onnxruntime as ``folder/judge.onnx`` with its
    ``judge.json``, its word embeddings quantized to int8, and check its logits against
    torch's. ModelError (one line, what to do) for weights that do not fit or an export that
    differs, saying what to run; then nothing is left in the folder."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    arrays, meta = read_weights(weights)
    model = cross_encoder(folder, arrays)
    target, meta_path = folder / JUDGE_ONNX, folder / JUDGE_META
    full = folder / f".{JUDGE_ONNX}.fp32"
    pairs = Pairs(folder, int(meta.get("max_tokens", 96)))
    ids, mask = pairs.batch(JUDGE_CHECK)
    axes = {0: "batch", 1: "tokens"}

    def diff() -> float:  # one pair at a time: padding must not matter
        judge = AnswerJudge(folder, meta)
        got = [judge.logits(q, [s]) for q, s in JUDGE_CHECK]
        return float(np.abs(reference - np.concatenate(got)).max())

    try:
        with torch.no_grad():
            reference = model(ids, mask).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (ids, mask), str(full),
                input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        meta_path.write_text(json.dumps(meta, sort_keys=True) + "\n", "utf-8")
        full.replace(target)
        exact = diff()
        if exact > JUDGE_MAX_DIFF:
            raise ModelError(f"its fp32 graph differs from torch by {exact:.2e}")
        target.replace(full)
        logging.disable(logging.WARNING)  # its advice to pre-process, for image models
        try:
            quantize_dynamic(str(full), str(target), weight_type=QuantType.QInt8,
                             op_types_to_quantize=["Gather"])  # fmt: skip
        finally:
            logging.disable(logging.NOTSET)
        quantized = diff()
        if quantized > JUDGE_INT8_MAX_DIFF:
            raise ModelError(f"its int8 graph differs from torch by {quantized:.2e}")
    except Exception as exc:
        target.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        raise ModelError(
            f"The answer judge could not be installed in {folder} ({type(exc).__name__}: "
            f"{str(exc)[:200]}); the product answers without it. Run `newsrag models install "
            f"{folder.name} --force` to try again, and report it with the model's name if it "
            "fails the same way."
        ) from exc
    finally:
        full.unlink(missing_ok=True)
    return {"file": JUDGE_ONNX, "max_diff_fp32": exact, "max_diff_int8": quantized,
            "weights": weights.name}  # fmt: skip
