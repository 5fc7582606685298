"""Answerers: they turn a question and numbered passages into text with [n] markers.

    Answerer (protocol)      stream(question, lang, passages, history) -> text pieces
    ├── ExtractiveAnswerer   picks the passages' sentences that answer (no LLM, instant)
    └── LLMAnswerer          a LangChain chat model, prompted from prompts/answer.md

Whatever an answerer writes then goes through citations.guard(). An answerer that finds that
the passages do not answer the question writes only NO_ANSWER: the engine then gives its own
refusal (a fixed sentence in the question's language and the closest articles).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..question import QuestionInfo
from ..types import Message, Passage

NO_ANSWER = "NO_ANSWER"


def declines(text: str) -> bool:
    """True for an answer that starts with NO_ANSWER (small models may explain after it)."""
    return re.match(rf"\W*{NO_ANSWER}\b", text, flags=re.IGNORECASE) is not None


def may_decline(start: str) -> bool:
    """True while the start of an answer could still turn out to be NO_ANSWER."""
    head = start.strip().upper()
    return NO_ANSWER.startswith(head) or declines(start)


class Answerer(Protocol):
    name: str  # "extractive" or "llm:<model>", shown to users

    def stream(
        self,
        question: str,
        lang: str,
        passages: Sequence[Passage],
        history: Sequence[Message],
        *,
        asked: QuestionInfo | None = None,
    ) -> Iterator[str]:
        """The answer's pieces. ``asked``: the question as the engine already read it (what
        it wants, what it names), so an answerer that needs it does not read it again."""
        ...
