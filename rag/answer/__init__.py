"""Answerers: they turn a question and numbered passages into text with [n] markers.

    Answerer (protocol)      stream(question, lang, passages, history) -> text pieces
    ├── ExtractiveAnswerer   picks the passages' sentences that answer (no LLM, instant)
    └── LLMAnswerer          a LangChain chat model, prompted from prompts/answer.md

Whatever an answerer writes then goes through citations.guard().
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from ..types import Message, Passage


class Answerer(Protocol):
    name: str  # "extractive" or "llm:<model>", shown to users

    def stream(
        self, question: str, lang: str, passages: Sequence[Passage], history: Sequence[Message]
    ) -> Iterator[str]: ...
