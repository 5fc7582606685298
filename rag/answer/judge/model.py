"""The answer judge: does this sentence state the answer to this question? A probability.

A small network (one hidden layer) over rag/answer/judge/features.py, trained by
``newsrag models train-judge`` (rag/answer/judge/train.py) and shipped as one ``.npz`` file per
embedding model in rag/data/judge/, with its card (README.md there). It reads the vectors the
embedding model already gives, so it costs a few microseconds a sentence once those exist.

A judge file is checked when it loads: its format, its feature names and the embedding model it
was trained on. A judge that does not fit is not used (``load_judge`` says why in one line) and
the answerer works by its rules alone, saying so in /api/status.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from .features import NAMES, Asked, Candidate, features

FORMAT = "newsrag-judge/1"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "judge"


@dataclass(frozen=True)
class AnswerJudge:
    """Weights of ``x → standardise → relu(W1 x + b1) → w2 · h + b2 → sigmoid``."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    meta: dict[str, Any]

    @property
    def model_label(self) -> str:
        return str(self.meta.get("embedding_model", ""))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """One score per row of features; higher states the answer more surely."""
        z = (x - self.mean) / self.scale
        if self.w1.size:
            z = np.maximum(z @ self.w1 + self.b1, 0.0)
        return z @ self.w2 + self.b2

    def weigh(self, asked: Asked, candidates: Sequence[Candidate]) -> tuple[np.ndarray, float]:
        """How likely each candidate is to be the one that states the answer to ``asked``, and
        how likely none of them does: a softmax over the candidates and "none" (logit 0), as
        the judge was trained (rag/answer/judge/train.py)."""
        if not candidates:
            return np.zeros(0, dtype=np.float32), 1.0
        logits = np.append(self.logits(features(asked, candidates)), 0.0)
        e = np.exp(logits - logits.max())
        p = e / e.sum()
        return p[:-1], float(p[-1])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({**self.meta, "format": FORMAT, "features": list(NAMES)}, sort_keys=True)
        with path.open("wb") as f:
            np.savez_compressed(
                f, mean=self.mean, scale=self.scale, w1=self.w1, b1=self.b1, w2=self.w2,
                b2=np.array([self.b2], dtype=np.float32), meta=np.array(meta),
            )  # fmt: skip


def read_judge(path: Path) -> AnswerJudge:
    """The judge in ``path``; ModelError (one line, with what to do) when it is not one."""
    retrain = "rebuild it with `newsrag models train-judge`"
    if not path.is_file():
        raise ModelError(f"No answer judge at {path}: {retrain}, or unset NEWSRAG_JUDGE.")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("mean", "scale", "w1", "b1", "w2", "b2", "meta")}
        meta = json.loads(str(arrays["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not an answer judge ({exc}): {retrain}.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} file: {retrain}.")
    if meta.get("features") != list(NAMES):
        raise ModelError(
            f"{path} was trained on other features than this version reads: {retrain}."
        )
    w1, w2 = arrays["w1"].astype(np.float32), arrays["w2"].astype(np.float32)
    width = arrays["mean"].shape[0]
    if arrays["scale"].shape != (width,) or (w1.size and w1.shape[0] != width):
        raise ModelError(f"{path} has weights of the wrong shape: {retrain}.")
    return AnswerJudge(
        mean=arrays["mean"].astype(np.float32), scale=arrays["scale"].astype(np.float32),
        w1=w1, b1=arrays["b1"].astype(np.float32), w2=w2, b2=float(arrays["b2"][0]), meta=meta,
    )  # fmt: skip


def judge_path(model_name: str) -> Path:
    return SHIPPED / f"{model_name}.npz"


def load_judge(path: Path, model_label: str) -> AnswerJudge:
    """``read_judge``, and a check that it was trained on the embedding model in use."""
    judge = read_judge(path)
    if judge.model_label != model_label:
        raise ModelError(
            f"{path} was trained for the embedding model {judge.model_label!r}, not "
            f"{model_label!r}: train one for it with `newsrag models train-judge`."
        )
    return judge
