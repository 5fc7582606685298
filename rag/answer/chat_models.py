"""Chat models from the NEWSRAG_LLM setting: any LangChain chat model behind one seam.

NEWSRAG_LLM ─► parse_llm_spec ─► LLMSpec ─► build_chat_model ─► BaseChatModel
    openai:MODEL[@BASE_URL]   ChatOpenAI (OpenAI, or vLLM / llama.cpp server / LM Studio)
    ollama:MODEL[@URL]        ChatOllama
    llamacpp:PATH.gguf        LlamaCppChat, in process (extra ``newsrag[llamacpp]``)
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

log = logging.getLogger(__name__)

SETTING = "NEWSRAG_LLM"
FORMS = (
    "openai:MODEL[@BASE_URL] (e.g. openai:qwen2.5@http://127.0.0.1:8080/v1), "
    "ollama:MODEL[@URL] (e.g. ollama:qwen2.5:3b@http://127.0.0.1:11434), "
    "llamacpp:PATH.gguf (e.g. llamacpp:data/models/gguf/model.gguf)"
)
PROMPT_DIR = Path(__file__).parent / "prompts"
OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
INSTALL_LLAMACPP = (
    "install it with `pip install 'newsrag[llamacpp]'` or `make setup-llm` "
    "(it compiles llama.cpp: 5-10 minutes on 2 cores)"
)

Provider = Literal["openai", "ollama", "llamacpp"]


# --- the setting ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LLMSpec:
    """A parsed NEWSRAG_LLM. ``raw`` is the setting as given, quoted back in error messages."""

    provider: Provider
    model: str  # the server's model name, or the .gguf file's stem
    base_url: str | None = None  # openai/ollama; None: the provider's default
    path: Path | None = None  # llamacpp only
    raw: str = ""

    @property
    def name(self) -> str:
        """What users see as the answer mode: ``llm:<model>``."""
        return f"llm:{self.model}"


def parse_llm_spec(spec: str) -> LLMSpec:
    raw = spec.strip()
    provider, sep, rest = raw.partition(":")
    provider = provider.lower()
    if not sep or provider not in ("openai", "ollama", "llamacpp"):
        raise _bad_spec(raw, "it must start with openai:, ollama: or llamacpp:")
    if not rest.strip():
        raise _bad_spec(raw, f"nothing follows {provider}:")
    if provider == "llamacpp":
        path = Path(rest).expanduser()
        if path.suffix.lower() != ".gguf":
            raise _bad_spec(raw, f"{rest} is not a .gguf file")
        if not path.is_file():
            raise ConfigError(
                f"{SETTING}={raw!r}: the model file {path.resolve()} does not exist. "
                "Give the path of a .gguf file."
            )
        return LLMSpec("llamacpp", path.stem, path=path, raw=raw)
    model, at, url = rest.partition("@")
    model = model.strip()
    if not model:
        raise _bad_spec(raw, "the MODEL part is empty")
    if at and not re.fullmatch(r"https?://[^\s/]+\S*", url):
        raise _bad_spec(raw, f"{url!r} is not a URL (it must start with http:// or https://)")
    kind: Provider = "openai" if provider == "openai" else "ollama"
    return LLMSpec(kind, model, base_url=url.rstrip("/") or None, raw=raw)


def _bad_spec(raw: str, why: str) -> ConfigError:
    return ConfigError(f"{SETTING}={raw!r} is not a valid LLM setting: {why}. Use one of: {FORMS}.")


# --- the chat model ------------------------------------------------------------------------
def build_chat_model(
    spec: LLMSpec,
    *,
    api_key: str | None,
    max_tokens: int = 512,
    temperature: float = 0.1,
    timeout: float = 60,
) -> BaseChatModel:
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if spec.provider == "openai":
        return _chat_openai(spec, api_key, max_tokens, temperature, timeout)
    if spec.provider == "ollama":
        return _chat_ollama(spec, max_tokens, temperature, timeout)
    assert spec.path is not None
    return LlamaCppChat.load(spec.path, max_tokens=max_tokens, temperature=temperature)


def _chat_openai(
    spec: LLMSpec, api_key: str | None, max_tokens: int, temperature: float, timeout: float
) -> ChatOpenAI:
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {}
    if spec.base_url:
        # ChatOpenAI(max_tokens=N) sends max_completion_tokens, which llama.cpp's server (and
        # other OpenAI look-alikes) ignore; the classic field in the body works on all of them.
        kwargs["extra_body"] = {"max_tokens": max_tokens}
        kwargs["api_key"] = api_key or "not-needed"  # local servers want no key
    else:  # OpenAI itself: max_completion_tokens is the right field; the key may come from env
        kwargs["max_tokens"] = max_tokens
        if api_key:
            kwargs["api_key"] = api_key
    try:
        return ChatOpenAI(
            model=spec.model,
            base_url=spec.base_url,
            temperature=temperature,
            timeout=timeout,
            max_retries=1,
            streaming=True,
            **kwargs,
        )
    except Exception as err:  # the openai client refuses to start without a key
        if "api_key" not in str(err):
            raise
        raise ConfigError(
            f"{SETTING}={spec.raw!r} uses OpenAI's API, which needs a key: set OPENAI_API_KEY, "
            "or add @BASE_URL to use a local OpenAI-compatible server."
        ) from err


def _chat_ollama(spec: LLMSpec, max_tokens: int, temperature: float, timeout: float) -> ChatOllama:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=spec.model,
        base_url=spec.base_url or OLLAMA_DEFAULT_URL,
        temperature=temperature,
        num_predict=max_tokens,
        client_kwargs={"timeout": timeout},
    )


def with_max_tokens(chat_model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """The same model (same client, same loaded weights) with another output limit."""
    fields = type(chat_model).model_fields
    extra_body = getattr(chat_model, "extra_body", None)
    update: dict[str, Any] = {}
    if isinstance(extra_body, Mapping) and "max_tokens" in extra_body:
        update["extra_body"] = {**extra_body, "max_tokens": max_tokens}
    elif "max_tokens" in fields:  # ChatOpenAI on OpenAI itself, LlamaCppChat
        update["max_tokens"] = max_tokens
    if "num_predict" in fields:  # ChatOllama
        update["num_predict"] = max_tokens
    return chat_model.model_copy(update=update) if update else chat_model


class LlamaCppChat(BaseChatModel):
    """A GGUF model run in process by llama-cpp-python, streaming through its chat template.

    ``client`` is a ``llama_cpp.Llama`` (``load`` makes one) or anything with the same
    ``create_chat_completion(messages=..., stream=True, ...)``.
    """

    model_path: str
    max_tokens: int = 512
    temperature: float = 0.1
    client: Any = Field(default=None, exclude=True)
    # one generation at a time: a Llama context is not thread-safe
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        **fields: Any,
    ) -> LlamaCppChat:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelError(
                f"{SETTING}=llamacpp:{path} needs llama-cpp-python, which is not installed: "
                f"{INSTALL_LLAMACPP}."
            ) from err
        try:
            llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelError(
                f"llama.cpp could not load {path} ({err}): is it a complete GGUF file? "
                f"Check {SETTING}."
            ) from err
        return cls(model_path=str(path), client=llama, **fields)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> Mapping[str, Any]:
        return {"model_path": self.model_path, "max_tokens": self.max_tokens}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(
            str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs)
        )
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.client is None:
            raise ModelError(f"{self.model_path} is not loaded: use LlamaCppChat.load(path).")
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        body = [{"role": roles.get(m.type, "user"), "content": str(m.text)} for m in messages]
        with self._lock:
            for part in self.client.create_chat_completion(
                messages=body,
                stream=True,
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                temperature=kwargs.get("temperature", self.temperature),
                stop=stop or [],
            ):
                piece = (part["choices"][0].get("delta") or {}).get("content") or ""
                if not piece:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk


# --- prompts -------------------------------------------------------------------------------
