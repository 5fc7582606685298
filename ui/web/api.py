"""The HTTP API (docs/web-contract.md): ask, stream, search, feedback, articles, OpenAI chat.

Handlers are thin: they validate the request, run the engine in a worker thread (it embeds
with torch, which would block the event loop) and shape its Turn with ui.web.present. Every
failure leaves as an ``ApiError``, which the server turns into the contract's JSON error.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse

from rag.answer.messages import format_date, text
from rag.archive.manifest import ArticleRecord
from rag.chat import Done, Engine, Event, Token
from rag.config import Settings
from rag.errors import NewsragError
from rag.types import Filters, Message, Turn

from .deps import engine_of, services_of, settings_of
from .errors import ApiError, answering_error
from .input_checks import Text, valid_text
from .present import (
    article_json,
    article_link,
    error_json,
    passage_json,
    plain_text,
    status_json,
    sync_status_json,
    turn_json,
)

log = logging.getLogger(__name__)
router = APIRouter()
KEEPALIVE_S = 10.0  # an SSE comment at least this often while an answer is being written


# --- request bodies -------------------------------------------------------------------------
# Every text field is ``Text`` and every free-form one is checked by ``valid_text``: a lone
# surrogate or a deep nesting is a 422 naming the field, not a 500 later (ui/web/input_checks.py).
FreeForm = Annotated[list[dict[str, Any]], BeforeValidator(valid_text)]


class FiltersIn(BaseModel):
    lang: Text | None = Field(None, description="Only articles in this language (it, en…).")
    date_from: Text | None = Field(None, description="Only articles from this date (YYYY-MM-DD).")
    date_to: Text | None = Field(None, description="Only articles up to this date (YYYY-MM-DD).")
    source: Text | None = Field(None, max_length=200, description="Only articles from this source.")

    @field_validator("lang", "date_from", "date_to", "source", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("lang")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z]{2}", v.strip()):
            raise ValueError(f"{v!r} is not a two-letter language code such as it or en")
        return v.strip().lower() if v else None

    @field_validator("date_from", "date_to")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                raise ValueError
            date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a date: use YYYY-MM-DD") from None
        return v

    @model_validator(mode="after")
    def _ordered(self) -> FiltersIn:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self

    def filters(self) -> Filters:
        return Filters(self.lang, self.date_from, self.date_to, self.source)


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=20_000)


class AskIn(BaseModel):
    question: Text = Field(description="A question, in Italian or English.")
    history: list[HistoryItem] = Field(
        default_factory=list, max_length=40, description="The conversation so far, oldest first."
    )
    filters: FiltersIn | None = None


class FeedbackIn(BaseModel):
    question: Text
    answer: Text = Field(max_length=50_000)
    citations: FreeForm = Field(default_factory=list, max_length=50)
    rating: Literal["up", "down"]
    comment: Text | None = Field(None, max_length=4000)
    turn_id: Text | None = Field(None, max_length=100)
    mode: Text | None = Field(None, max_length=100, description="The answer's mode, if known.")


class ChatMessageIn(BaseModel):
    role: Text
    content: Annotated[str | list[dict[str, Any]] | None, BeforeValidator(valid_text)] = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionIn(BaseModel):
    model: Text = "newsrag"
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=100)
    stream: bool = False
    filters: FiltersIn | None = Field(None, description="newsrag extension: search filters.")


# --- shared helpers -------------------------------------------------------------------------
def checked_question(question: str, settings: Settings, field: str = "question") -> str:
    question = question.strip()
    if not question:
        raise ApiError(422, "validation", f"{field} must not be empty.", field=field)
    if len(question) > settings.max_question_chars:
        raise ApiError(
            422,
            "validation",
            f"{field} is too long: {len(question)} characters, at most "
            f"{settings.max_question_chars} are accepted (NEWSRAG_MAX_QUESTION_CHARS).",
            field=field,
        )
    return question


def new_turn_id() -> str:
    return str(uuid.uuid4())


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def history_of(items: Sequence[HistoryItem]) -> list[Message]:
    return [Message(h.role, h.content) for h in items]


def filters_of(given: FiltersIn | None) -> Filters | None:
    return given.filters() if given else None


async def _events(
    engine: Engine, question: str, history: list[Message], filters: Filters | None
) -> AsyncIterator[Event]:
    """The engine's events, each produced in a worker thread."""
    events = engine.ask_stream(question, history=history, filters=filters)
    async for event in iterate_in_threadpool(events):
        yield event


# --- /api -----------------------------------------------------------------------------------
@router.post("/api/ask", tags=["chat"])
async def ask(body: AskIn, request: Request) -> dict[str, Any]:
    """Answers a question from the archive: the Turn, with its citations."""
    question = checked_question(body.question, settings_of(request))
    engine = engine_of(request)
    try:
        turn = await run_in_threadpool(
            engine.ask, question, history=history_of(body.history), filters=filters_of(body.filters)
        )
    except NewsragError as err:
        raise answering_error(err) from err
    return turn_json(turn, new_turn_id())


@router.post("/api/ask/stream", tags=["chat"], response_class=StreamingResponse)
async def ask_stream(body: AskIn, request: Request) -> StreamingResponse:
    """The answer as server-sent events: ``token``… then ``citations`` then ``done`` (the Turn);
    ``error`` if answering fails. The final answer is the ``done`` Turn's: the citation guard
    may renumber or drop the ``[n]`` markers of the streamed text."""
    question = checked_question(body.question, settings_of(request))
    engine = engine_of(request)  # a 503 before the stream starts, not inside it
    turn_id = new_turn_id()

    async def stream() -> AsyncIterator[str]:
        try:
            events = _events(engine, question, history_of(body.history), filters_of(body.filters))
            async for event in events:
                if isinstance(event, Token):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Done):
                    done = turn_json(event.turn, turn_id)
                    yield sse("citations", {"citations": done["citations"]})
                    yield sse("done", done)
        except NewsragError as err:
            e = answering_error(err)
            yield sse("error", error_json(e.code, e.message))
        except Exception:
            log.exception("answering failed")
            yield sse("error", error_json("internal", "Unexpected error; see the server log."))

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/api/search", tags=["search"])
async def search(
    request: Request,
    q: str = Query(description="What to look for, in any language."),
    k: int = Query(10, ge=1, le=50, description="How many passages."),
    lang: str | None = Query(None, description="Only articles in this language (it, en…)."),
    date_from: str | None = Query(None, description="From this date (YYYY-MM-DD)."),
    date_to: str | None = Query(None, description="Up to this date (YYYY-MM-DD)."),
    source: str | None = Query(None, description="Only articles from this source."),
) -> dict[str, Any]:
    """Ranked passages for a query (hybrid, cross-lingual, one per story)."""
    query = checked_question(q, settings_of(request), field="q")
    try:
        f = FiltersIn(lang=lang, date_from=date_from, date_to=date_to, source=source)
    except ValidationError as err:
        raise RequestValidationError(err.errors()) from err
    engine = engine_of(request)
    try:
        passages = await run_in_threadpool(engine.search, query, k=k, filters=f.filters())
    except NewsragError as err:
        raise answering_error(err) from err
    return {"query": query, "passages": [passage_json(p) for p in passages]}


@router.post("/api/feedback", tags=["feedback"], status_code=201)
async def feedback(body: FeedbackIn, request: Request) -> dict[str, int]:
    """Stores a thumbs up/down on an answer (with the SSO user when the proxy sets one)."""
    settings = settings_of(request)
    question = checked_question(body.question, settings)
    header = settings.trusted_user_header
    row_id = await run_in_threadpool(
        request.app.state.feedback.add,
        rating=body.rating,
        question=question,
        answer=body.answer,
        citations=body.citations,
        comment=body.comment,
        mode=body.mode,
        user=request.headers.get(header) if header else None,
        origin=request.headers.get("origin"),
        turn_id=body.turn_id,
    )
    return {"id": row_id}


def load_article(request: Request, article_id: str) -> tuple[ArticleRecord, list[ArticleRecord]]:
    """A stored article and the other-language versions of its story; 404 if unknown."""
    manifest = engine_of(request).retriever.index.manifest
    record = manifest.get(article_id)
    if record is None or record.state != "done":
        raise ApiError(404, "not_found", f"No article with id {article_id!r} in the archive.")
    translations: list[ArticleRecord] = []
    if record.story_id:
        others = [a for a in manifest.story_members(record.story_id) if a != record.id]
        found = manifest.get_many(others)
        translations = [found[a] for a in others if a in found and found[a].state == "done"]
    return record, translations


@router.get("/api/articles/{article_id:path}", tags=["articles"])
async def article(article_id: str, request: Request) -> dict[str, Any]:
    """A stored article: full text, metadata and the other languages of its story."""
    record, translations = load_article(request, article_id)
    return article_json(record, translations)


@router.get("/api/status", tags=["health"])
async def status(request: Request) -> dict[str, Any]:
    """What the archive holds and how current the answers are: articles, chunks, when it was
    last updated, and the manifest generation questions are answered from (``up_to_date`` once
    the server has caught up with the last write); the sources it follows (last sync, articles,
    problems), when the next is due, and whether this server syncs them in the background."""
    engine_of(request)  # 503 with the reason while loading
    services = services_of(request)

    def read() -> dict[str, Any]:
        return status_json(services.status()) | sync_status_json(services.syncs.status())

    try:
        return await run_in_threadpool(read)
    except NewsragError as err:
        raise answering_error(err) from err


# --- OpenAI-compatible ----------------------------------------------------------------------
def base_url(request: Request) -> str:
    return (settings_of(request).public_url or str(request.base_url)).rstrip("/")


def with_sources(turn: Turn, base: str) -> str:
    """The answer and a Sources/Fonti list: [n] title (date) link, links made absolute.

    The extractive answer's own one-line list of dates is replaced by the fuller list. It is
    plain text (``plain_text``): the answer quotes articles and the titles are theirs, and a
    chat front end renders this as Markdown, so their markup must not reach it.
    """
    if not turn.citations:
        return plain_text(turn.answer)
    label = text(turn.lang, "sources")
    answer = re.sub(rf"\n+{re.escape(label)}: [^\n]*$", "", turn.answer.rstrip())
    lines = []
    for c in turn.citations:
        link = article_link(c.article_id, c.url, c.start, c.end)
        link = base + link if link.startswith("/") else link
        title = c.title or c.article_id
        lines.append(f"[{c.n}] {title} ({format_date(c.date, turn.lang)}) {link}")
    return plain_text(f"{answer}\n\n{label}:\n" + "\n".join(lines))


def v1_citations(turn: Turn, cid: str) -> list[dict[str, Any]]:
    """The citations as /api gives them, their title and source as plain text."""
    return [
        c | {key: c[key] and plain_text(c[key]) for key in ("title", "source")}
        for c in turn_json(turn, cid)["citations"]
    ]


def split_messages(messages: Sequence[ChatMessageIn]) -> tuple[str, list[Message]]:
    """The last user message is the question; the user/assistant turns before it, history."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise ApiError(
            422, "validation", "messages must contain a message with role user.", field="messages"
        )
    history = [
        Message(m.role, m.text()) for m in messages[:last] if m.role in ("user", "assistant")
    ]
    return messages[last].text(), history


def completion_chunk(cid: str, model: str, delta: dict[str, str], finish: str | None) -> str:
    chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


@router.post("/v1/chat/completions", tags=["openai"], response_model=None)
async def chat_completions(
    body: ChatCompletionIn, request: Request
) -> dict[str, Any] | StreamingResponse:
    """OpenAI-compatible chat: the last user message is the question. With ``stream: true``
    the answer arrives as chat.completion.chunk events once the citation guard has checked
    it (so its [n] always match the Sources list), then ``data: [DONE]``."""
    settings = settings_of(request)
    question, history = split_messages(body.messages)
    question = checked_question(question, settings, field="messages")
    engine = engine_of(request)
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    base = base_url(request)
    filters = filters_of(body.filters)

    if not body.stream:
        try:
            turn = await run_in_threadpool(engine.ask, question, history=history, filters=filters)
        except NewsragError as err:
            raise answering_error(err) from err
        return {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": with_sources(turn, base)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": v1_citations(turn, cid),
        }

    async def stream() -> AsyncIterator[str]:
        yield completion_chunk(cid, body.model, {"role": "assistant", "content": ""}, None)
        last = time.monotonic()
        try:
            async for event in _events(engine, question, history, filters):
                if isinstance(event, Done):
                    content = with_sources(event.turn, base)
                    yield completion_chunk(cid, body.model, {"content": content}, None)
                elif time.monotonic() - last > KEEPALIVE_S:  # idle proxies keep the line open
                    last = time.monotonic()
                    yield ": still writing\n\n"
            yield completion_chunk(cid, body.model, {}, "stop")
        except NewsragError as err:
            e = answering_error(err)
            yield f"data: {json.dumps(error_json(e.code, e.message))}\n\n"
        except Exception:
            log.exception("answering failed")
            yield f"data: {json.dumps(error_json('internal', 'Unexpected error.'))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- anything else under /api and /v1 -------------------------------------------------------
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


@router.api_route("/api/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
@router.api_route("/v1/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
async def no_such_route(request: Request) -> None:
    """Keeps unknown API paths out of the Gradio app mounted at / (a JSON 404, not a page)."""
    raise ApiError(
        404,
        "not_found",
        f"No API route {request.method} {request.url.path}: see /docs for the routes.",
    )
