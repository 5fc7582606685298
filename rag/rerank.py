"""An optional cross-encoder reranker (any sentence-transformers CrossEncoder id or folder).

Off by default: no multilingual cross-encoder ships offline here. When set
(NEWSRAG_RERANKER), it re-orders the retrieved passages by its own relevance scores; the
dense similarity each passage keeps is still what the refusal threshold looks at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import ModelError
from .retrieval import rescore
from .types import Passage


class CrossEncoderReranker:
    def __init__(self, model: str, *, device: str = "cpu", max_length: int = 512) -> None:
        from sentence_transformers import CrossEncoder

        try:
            self._model: Any = CrossEncoder(model, device=device, max_length=max_length)
        except Exception as exc:
            raise ModelError(
                f"Could not load the reranker {model!r} ({type(exc).__name__}: {exc}); set "
                "NEWSRAG_RERANKER to a sentence-transformers CrossEncoder id or folder, or "
                "unset it."
            ) from exc
        self.name = model

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        if not passages:
            return []
        scores = self._model.predict([(query, p.text) for p in passages], show_progress_bar=False)
        return rescore(passages, [float(s) for s in scores])
