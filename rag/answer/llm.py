"""The LLM answerer and rewriter: any LangChain chat model, prompted from prompts/*.md.

    BaseChatModel (see chat_models.py) ─► LLMAnswerer (Answerer), LLMRewriter (Rewriter)

The chat model is the one seam: tests hand LLMAnswerer langchain-core's fake chat models.
Article text reaches the model only inside ``<source n=N>`` blocks, with anything that looks
like the delimiter escaped, so an article can neither close its block nor change the system
message; whatever the model writes still goes through citations.guard().
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)

from ..errors import ConfigError, ModelError, NewsragError
from ..question import QuestionInfo
from ..types import Message, Passage
from . import NO_ANSWER
from .chat_models import (  # noqa: F401 - re-exported: the module users import from
    OPENAI_DEFAULT_URL,
    PROMPT_DIR,
    SETTING,
    LlamaCppChat,
    LLMSpec,
    build_chat_model,
    parse_llm_spec,
    with_max_tokens,
)
from .citations import MARKER
from .messages import format_date, language_name

log = logging.getLogger(__name__)


def load_prompt(path: Path) -> dict[str, str]:
    """The ``=== name ===`` parts of a prompt file (its leading HTML comment is skipped)."""
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"Cannot read the prompt file {path} ({err}).") from err
    content = re.sub(r"\A\s*<!--.*?-->\s*", "", content, flags=re.S)
    parts = re.split(r"^=== *(\w+) *===[ \t]*\n", content, flags=re.M)
    return {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _require(parts: dict[str, str], path: Path, *names: str) -> None:
    missing = [n for n in names if n not in parts]
    if missing:
        raise ConfigError(f"The prompt file {path} lacks the part(s) {', '.join(missing)}.")


_OLD_MARKER = re.compile(r"[ \t]*" + MARKER.pattern)
_DELIMITER = re.compile(r"<(\s*/?\s*source)", re.I)


def neutralise(text: str) -> str:
    """``<source``/``</source`` in data become ``&lt;source``: no text can open or close a block."""
    return _DELIMITER.sub(r"&lt;\1", text)


def _english_name(lang: str) -> str:
    return language_name("en", lang)


def _clean_history(
    history: Sequence[Message], max_chars: int, *, for_chat: bool = True
) -> list[Message]:
    """The history's user/assistant turns, each cut to ``max_chars``, old [n] markers removed
    (they point to the sources of earlier turns, not to this turn's).

    ``for_chat``: the turns become chat messages, so they must alternate and start with the
    user, and must not end with one since the current question follows (strict chat
    templates, e.g. Gemma's, refuse anything else).
    """
    turns: list[Message] = []
    for m in history:
        if m.role not in ("user", "assistant") or not m.content.strip():
            continue
        content = neutralise(_OLD_MARKER.sub("", m.content)).strip()[:max_chars]
        if for_chat and not turns and m.role == "assistant":
            continue
        if for_chat and turns and turns[-1].role == m.role:
            turns[-1] = Message(m.role, f"{turns[-1].content}\n\n{content}")
        else:
            turns.append(Message(m.role, content))
    if for_chat and turns and turns[-1].role == "user":
        turns.pop()
    return turns


# --- the answerer --------------------------------------------------------------------------
class LLMAnswerer:
    """Streams an answer from a chat model, prompted with prompts/answer.md.

    ``setting`` is the NEWSRAG_LLM value quoted in error messages.
    """

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        name: str,
        prompt_dir: Path | None = None,
        setting: str | None = None,
        max_history: int = 6,
        max_history_chars: int = 1500,
    ) -> None:
        if not name.startswith("llm:"):
            raise ValueError(f"name must look like 'llm:<model>', not {name!r}")
        self.chat_model = chat_model
        self.name = name
        self.setting = setting
        self.max_history = max_history
        self.max_history_chars = max_history_chars
        path = (prompt_dir or PROMPT_DIR) / "answer.md"
        self.prompt = load_prompt(path)
        _require(self.prompt, path, "system", "source", "user")

    def messages(
        self, question: str, lang: str, passages: Sequence[Passage], history: Sequence[Message]
    ) -> list[BaseMessage]:
        language = _english_name(lang)
        blocks = [
            self.prompt["source"].format(
                n=i,
                title=neutralise(" ".join(p.title.split())) or "(untitled)",
                date=f"{p.date[:10]} ({format_date(p.date, lang)})" if p.date else "undated",
                language=_english_name(p.lang),
                text=neutralise(p.text.strip()),
            )
            for i, p in enumerate(passages, start=1)
        ]
        system = self.prompt["system"].format(language=language, no_answer=NO_ANSWER)
        out: list[BaseMessage] = [SystemMessage(system)]
        recent = _clean_history(list(history)[-self.max_history :], self.max_history_chars)
        out += [
            HumanMessage(m.content) if m.role == "user" else AIMessage(m.content) for m in recent
        ]
        user = self.prompt["user"].format(
            sources="\n\n".join(blocks) or "(none)",
            language=language,
            question=neutralise(" ".join(question.split())),
        )
        out.append(HumanMessage(user))
        return out

    def stream(
        self,
        question: str,
        lang: str,
        passages: Sequence[Passage],
        history: Sequence[Message] = (),
        *,
        asked: QuestionInfo | None = None,  # the prompt gives the question itself
    ) -> Iterator[str]:
        messages = self.messages(question, lang, passages, history)
        try:
            for chunk in self.chat_model.stream(messages):
                piece = chunk.content if isinstance(chunk.content, str) else str(chunk.text)
                if piece:
                    yield piece
        except NewsragError:
            raise
        except Exception as err:
            raise model_failure(err, self.chat_model, self.setting) from err


def model_failure(err: Exception, chat_model: BaseChatModel, setting: str | None) -> ModelError:
    """A sentence for the user about why the LLM failed; the cause stays chained for logs."""
    where = _endpoint(chat_model)
    check = f"Check {SETTING}" + (f" (now {setting!r})" if setting else "") + "."
    kind = type(err).__name__
    status = getattr(err, "status_code", None) or getattr(
        getattr(err, "response", None), "status_code", None
    )
    if _is_timeout(err):
        return ModelError(
            f"The LLM at {where} did not answer in time ({kind}). Is the server at {where} "
            f"running and not overloaded? {check}"
        )
    if _is_unreachable(err):
        return ModelError(
            f"The LLM server at {where} could not be reached ({kind}: {err}). "
            f"Is the server at {where} running? {check}"
        )
    if isinstance(status, int):
        hint = {
            401: "Is the API key right?",
            403: "Is the API key allowed to use this model?",
            404: "Does the server serve this model (the MODEL part of the setting)?",
        }.get(status, "See the server's log.")
        return ModelError(
            f"The LLM server at {where} answered HTTP {status}: {err}. {hint} {check}"
        )
    log.error("LLM failure at %s", where, exc_info=err)
    return ModelError(f"The LLM at {where} failed ({kind}: {err}). {check}")


def _endpoint(chat_model: BaseChatModel) -> str:
    for attr in ("openai_api_base", "base_url", "model_path"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return value
    if type(chat_model).__name__ == "ChatOpenAI":
        return OPENAI_DEFAULT_URL
    return f"the {type(chat_model).__name__} model"


def _names(err: BaseException) -> set[str]:
    return {c.__name__ for c in type(err).__mro__}


def _is_timeout(err: BaseException) -> bool:
    # checked by name so that neither openai nor httpx is imported here
    return bool(_names(err) & {"TimeoutError", "APITimeoutError", "TimeoutException"})


def _is_unreachable(err: BaseException) -> bool:
    return bool(_names(err) & {"ConnectionError", "APIConnectionError", "TransportError"})


# --- the rewriter --------------------------------------------------------------------------
_PREFIX = re.compile(
    r"^\W*(?:standalone|rewritten|reformulated|riformulata|autonoma|domanda|question)\b"
    r"[^:\n]{0,40}:\s*",
    re.I,
)
_QUOTES = "\"'`«»“”„‘’ *"


class LLMRewriter:
    """Makes a follow-up standalone with prompts/rewrite.md; any failure keeps the question.

    ``max_tokens`` bounds the reply (a question is short; a chatty model would otherwise
    delay every follow-up's search by its whole answer budget).
    """

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        prompt_dir: Path | None = None,
        max_history: int = 6,
        max_history_chars: int = 600,
        max_tokens: int | None = 96,
    ) -> None:
        self.chat_model = with_max_tokens(chat_model, max_tokens) if max_tokens else chat_model
        self.max_history = max_history
        self.max_history_chars = max_history_chars
        path = (prompt_dir or PROMPT_DIR) / "rewrite.md"
        self.prompt = load_prompt(path)
        _require(self.prompt, path, "system", "user")

    def messages(self, question: str, history: Sequence[Message], lang: str) -> list[BaseMessage]:
        language = _english_name(lang)
        turns = _clean_history(
            list(history)[-self.max_history :], self.max_history_chars, for_chat=False
        )
        lines = [f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in turns]
        return [
            SystemMessage(self.prompt["system"].format(language=language)),
            HumanMessage(
                self.prompt["user"].format(
                    history="\n".join(lines) or "(none)",
                    question=" ".join(question.split()),
                    language=language,
                )
            ),
        ]

    def rewrite(self, question: str, history: Sequence[Message], lang: str) -> str:
        if not history:
            return question
        try:
            reply = self.chat_model.invoke(self.messages(question, history, lang))
            content = reply.content if isinstance(reply.content, str) else str(reply.text)
        except Exception as err:  # rewriting is an optimisation: never fail the question
            log.warning("Follow-up rewriting failed, searching the question as asked: %s", err)
            return question
        return clean_rewrite(content, max_chars=max(300, 4 * len(question))) or question


def clean_rewrite(text: str, *, max_chars: int = 300) -> str:
    """The question in a model's reply: no reasoning, prefix, quotes; '' when unusable."""
    text = re.sub(r"<think>.*?(?:</think>|\Z)", "", text, flags=re.S | re.I)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    for _ in range(2):  # "**Standalone question:** «…»"
        line = _PREFIX.sub("", line.strip(_QUOTES)).strip()
    line = line.strip(_QUOTES).strip()
    return line if len(line) <= max_chars else ""
