"""The answer judge: does this sentence state the answer to this question? A reading model.

A cross-encoder: the question and one sentence are read together by multilingual-e5-small,
whose upper layers were fine-tuned for this (``newsrag models train-judge``,
rag/answer/judge/train.py), and one number comes out, a logit. The logits of a question's
candidate sentences and a fixed 0 for "none of them" go through one softmax, as it was trained.
It reads across languages: an Italian question against an English sentence and the reverse.

Two files, both checked when they load:
- the trained weights, shipped in the repository (``rag/data/judge/<model>.npz``: the layers
  that training changed and the head, fp16, with their card beside them);
- ``judge.onnx`` in the installed embedding model's folder, assembled from the model's own
  weights and those by ``newsrag models install`` (provision/onnx_export.py) and run here on
  onnxruntime, like the embedder, so the server never imports torch. ``judge.json`` beside it
  names the format and the embedding model it belongs to.

A judge that does not fit is not used (``load_judge`` says why in one line, with what to do) and
the answerer works by its rules alone, saying so in /api/status and the chat page's footer.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from ...onnx_embedder import onnx_session, padded, tokenizer_of

FORMAT = "newsrag-judge/2"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "judge"
ONNX_FILE = "judge.onnx"
META_FILE = "judge.json"
BOS_ID, EOS_ID = 0, 2  # XLM-RoBERTa's <s> and </s> (<pad>: rag/onnx_embedder.py)
REINSTALL = "reinstall the embedding model (`newsrag models install {name} --force`)"


def weights_path(model_name: str) -> Path:
    """The shipped weights of the judge for an embedding model."""
    return SHIPPED / f"{model_name}.npz"


def read_weights(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The trained tensors (by their torch names) and the meta of a weights file; ModelError,
    one line with what to do, when it is not one."""
    retrain = "rebuild it with `newsrag models train-judge`"
    if not path.is_file():
        raise ModelError(f"No answer judge at {path}: {retrain}, or set NEWSRAG_JUDGE=off.")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not an answer judge ({exc}): {retrain}.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} file: {retrain}.")
    if "head.weight" not in arrays:
        raise ModelError(f"{path} has no head: {retrain}.")
    return arrays, meta


def pair_ids(question: list[int], sentence: list[int], max_tokens: int) -> list[int]:
    """``<s> question </s></s> sentence </s>``, as XLM-RoBERTa pairs two texts, the sentence
    cut to fit ``max_tokens`` (the question is kept whole up to half of it)."""
    question = question[: max_tokens // 2]
    room = max(max_tokens - len(question) - 4, 1)
    return [BOS_ID, *question, EOS_ID, EOS_ID, *sentence[:room], EOS_ID]


class AnswerJudge:
    """``judge.onnx`` of an installed model folder on onnxruntime (see the module docstring)."""

    def __init__(self, folder: Path, meta: dict[str, Any], threads: int | None = None) -> None:
        # its threads sleep between runs, so the embedder's runs right after (the next
        # question's) do not wait for cores a finished judge still holds
        self._session = onnx_session(folder / ONNX_FILE, threads, spinning=False)
        self._tokenizer = tokenizer_of(folder)  # the embedder's, when it runs on onnxruntime
        self.meta = meta
        self.max_tokens = int(meta.get("max_tokens", 96))
        self._prompts = (str(meta.get("query_prompt", "")), str(meta.get("passage_prompt", "")))

    @property
    def model_label(self) -> str:
        return str(self.meta.get("embedding_model", ""))

    def logits(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One score per sentence; above 0, the judge finds it more likely to state the answer
        than that none of them does."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        q_prompt, s_prompt = self._prompts
        encoded = self._tokenizer.encode_batch(
            [q_prompt + question, *(s_prompt + s for s in sentences)], add_special_tokens=False
        )
        q = encoded[0].ids
        ids, mask = padded([pair_ids(q, e.ids, self.max_tokens) for e in encoded[1:]])
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(sentences))

    def weigh(self, question: str, sentences: Sequence[str]) -> tuple[np.ndarray, float]:
        """How likely each sentence is to be the one that states the answer, and how likely
        none of them does: a softmax over the sentences and "none" (logit 0)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32), 1.0
        logits = np.append(self.logits(question, sentences), 0.0)
        e = np.exp(logits - logits.max())
        p = e / e.sum()
        return p[:-1], float(p[-1])


def load_judge(folder: Path, model_label: str) -> AnswerJudge:
    """The judge installed in an embedding model's folder, checked: its meta's format and the
    model it was trained on, and that onnxruntime reads it."""
    name = folder.name
    meta_path = folder / META_FILE
    if not meta_path.is_file() or not (folder / ONNX_FILE).is_file():
        raise ModelError(
            f"No answer judge is installed in {folder}: {REINSTALL.format(name=name)}, or set "
            "NEWSRAG_JUDGE=off."
        )
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{meta_path} is not readable ({exc}): {REINSTALL.format(name=name)}."
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{meta_path} is not a {FORMAT} judge: {REINSTALL.format(name=name)}.")
    if meta.get("embedding_model") != model_label:
        raise ModelError(
            f"The answer judge in {folder} was trained for the embedding model "
            f"{meta.get('embedding_model')!r}, not {model_label!r}: train one for it with "
            "`newsrag models train-judge`."
        )
    try:
        return AnswerJudge(folder, meta)
    except Exception as exc:  # a damaged or partial onnx file
        raise ModelError(
            f"Could not load {folder / ONNX_FILE} with onnxruntime ({type(exc).__name__}: "
            f"{str(exc)[:160]}): {REINSTALL.format(name=name)}."
        ) from exc
