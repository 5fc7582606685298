"""One typed settings object, read once at the entry point and handed down.

Every field can be set as an environment variable ``NEWSRAG_<FIELD>`` or in a ``.env`` file;
command-line options override both. The descriptions feed ``--help`` and the README table.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HOST_NAME = re.compile(r"^[\w-]+(\.[\w-]+)*$")  # a NEWSRAG_FETCH_ALLOW name (ingest/web/guard.py)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSRAG_", env_file=".env", extra="ignore", validate_assignment=True
    )

    index_dir: Path = Field(
        Path("data/index"),
        description="Folder of one archive's index (Chroma data, manifest, lexical index). "
        "Several archives can live side by side in different folders.",
    )
    models_dir: Path = Field(
        Path("data/models"),
        description="Where `newsrag models install` puts embedding models.",
    )
    embedding_model: str = Field(
        "multilingual-e5-small",
        description="A model name from `newsrag models list`, a sentence-transformers hub id, "
        "or a local folder.",
    )
    chroma_url: str | None = Field(
        None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000). "
        "Unset: embedded Chroma inside the index folder.",
    )
    collection: str = Field(
        "newsrag", description="Chroma collection name prefix (matters with a shared server)."
    )
    chunk_tokens: int = Field(
        200, ge=32, le=480, description="Target chunk length in the embedding model's tokens."
    )
    chunk_overlap: int = Field(
        40,
        ge=0,
        description="Tokens of trailing sentences repeated at the start of the next chunk.",
    )
    max_file_mb: float = Field(
        50.0, gt=0, description="Files larger than this are reported and skipped."
    )
    embed_batch_size: int = Field(
        16, ge=1, description="Texts per embedding batch (16 is fastest on 2 CPU cores)."
    )
    quantize: Literal["none", "int8"] = Field(
        "none",
        description="int8: dynamic int8 weights for the embedding model on CPU (about 1.5x "
        "faster ingest, cosine 0.997 to full precision). Part of the index's model identity.",
    )
    embed_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="The matrix products of a local ingest or sync embedding chunks on torch. "
        "auto: bf16 where the CPU multiplies bf16 in hardware (Intel AMX: about 1.8x faster, "
        "vectors at cosine 0.99999 to fp32's), checked against fp32 when the model loads "
        "(cosine >= 0.9999, else fp32); fp32 elsewhere. Vectors are stored in fp32 and the "
        "index's model identity is the same; questions and answers are always embedded in fp32.",
    )
    story_threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Similarity above which two articles in different languages are linked as "
        "one story. Unset: the model's calibrated value (0.85 for multilingual-e5-small).",
    )
    ingest_batch_chunks: int = Field(
        512, ge=1, description="Chunks embedded and written together (one crash-safe step)."
    )
    device: str = Field("cpu", description="Torch device for the embedding model.")
    embedding_runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="auto: onnxruntime for answering when the installed model has its export "
        "(model.onnx, written by `newsrag models install`; the same vectors, 2-4x faster per "
        "question, no torch in the server), torch for a local ingest or sync (faster on whole "
        "chunks); onnx: always onnxruntime, and require the export; torch: always "
        "sentence-transformers.",
    )

    # --- sources: feeds, sitemaps and folders synced on a schedule (newsrag sync) ---------
    user_agent: str = Field(
        "newsrag/0.1 (news archive sync)",
        min_length=1,
        description="User-Agent sent with every request for feeds, sitemaps and pages; "
        "robots.txt rules are matched on its first word. Add a contact, e.g. "
        "'newsrag/0.1 (archive@example.org)'.",
    )
    fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds a feed, sitemap or page may take to arrive in full."
    )
    fetch_max_mb: float = Field(
        10.0, gt=0, description="Largest feed, sitemap or page fetched, in MB (uncompressed)."
    )
    fetch_max_redirects: int = Field(
        5, ge=0, le=20, description="Redirects followed for one URL before giving up."
    )
    fetch_host_delay: float = Field(
        1.0,
        ge=0,
        description="Seconds between two requests to the same host (a longer robots.txt "
        "Crawl-delay wins, up to 30 s).",
    )
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names, addresses and networks a sync may fetch from although they "
        "are not public (loopback, private, link-local…), e.g. `news.intra,10.0.0.0/8` for an "
        "intranet feed. Otherwise a feed, sitemap or page on such an address, or a redirect to "
        "one, is refused and reported. Comma-separated or a JSON list.",
    )
    sync_max_pages: int = Field(
        200,
        ge=1,
        description="Pages asked for per source and sync; the rest wait for the next syncs "
        "(newest first).",
    )
    sync: Literal["on", "off", "auto"] = Field(
        "auto",
        description="Whether `newsrag serve` syncs the index's due sources in the background. "
        "auto: when the index has sources (looked at again every NEWSRAG_SYNC_CHECK_SECONDS, "
        "so a `sources add` is noticed); on: the same, and a warning when it has none; off: "
        "never (POST /api/admin/sync and `newsrag sync` still do). With NEWSRAG_CHROMA_URL "
        "and several servers, each sync is run by the one that takes the writer lock.",
    )
    sync_check_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="Longest time the background sync sleeps before looking at the sources "
        "again (it wakes earlier when one is due).",
    )

    # --- answering ------------------------------------------------------------------------
    llm: str | None = Field(
        None,
        description="LLM that writes answers: openai:MODEL@BASE_URL (any OpenAI-compatible "
        "server), ollama:MODEL[@URL], or llamacpp:PATH.gguf. Unset: the extractive answerer.",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for an openai: LLM server (local servers need none)."
    )
    llm_max_tokens: int = Field(512, ge=16, description="Longest LLM answer, in tokens.")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="LLM sampling temperature.")
    llm_timeout: float = Field(120.0, gt=0, description="Seconds to wait for the LLM server.")
    reranker: str | None = Field(
        None,
        description="Optional cross-encoder reranker: a sentence-transformers CrossEncoder id "
        "or folder. Unset: no reranking.",
    )
    judge: str = Field(
        "auto",
        description="The learned answer judge, a cross-encoder that reads the question with "
        "each candidate sentence and picks the lead among those that state the asked kind of "
        "fact: `auto` (the one installed with the embedding model), `off`, or an installed "
        "model folder holding a `judge.onnx` (`newsrag models train-judge`).",
    )
    refusal_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Below this support the question is refused (the best passage's "
        "similarity, a calibrated allowance added for passages in the other language, a little "
        "taken off per question word the archive never uses). Unset: the model's calibrated "
        "value.",
    )
    answer_passages: int = Field(5, ge=1, le=20, description="Passages given to the answerer.")
    retrieval_candidates: int = Field(
        40, ge=5, description="Candidates taken from each retriever before fusion."
    )
    lexical_weight: float = Field(
        0.05, ge=0, description="Weight of BM25 in the fusion (0 = dense only)."
    )
    language_shift: float | None = Field(
        None,
        ge=0,
        le=2,
        description="How far a question is moved along the archive's language direction "
        "(learnt from its translated stories) to search another language; 0 = not moved. "
        "Unset: the model's measured value (0.75 for multilingual-e5-small, 0 otherwise).",
    )
    history_turns: int = Field(
        3, ge=0, le=20, description="Earlier question/answer pairs a follow-up may use."
    )

    # --- web chat, API and widget ---------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `newsrag serve` listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port `newsrag serve` listens on.")
    public_url: str | None = Field(
        None,
        description="The server's address as intranet pages see it (e.g. https://news.intra): "
        "its own origin for the API checks, absolute links in /v1 answers, the URL `serve` "
        "prints. Unset: taken from each request.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Intranet origins (scheme://host[:port]) that may embed the widget and call "
        "the API from a browser: drives CORS and CSP frame-ancestors. Comma-separated or a JSON "
        "list. Empty: only the server's own pages.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="If set, every route that answers or reads (/api, /v1, Gradio's) needs one "
        "of these as `Authorization: Bearer KEY` or `X-API-Key`, or the session a page of this "
        "server gave the browser (the chat page, the widget). Unset: an open server.",
    )
    trusted_user_header: str | None = Field(
        None,
        description="Header with the user name set by the intranet's SSO reverse proxy "
        "(e.g. X-Forwarded-User): if set, a request without it (and without an API key) is "
        "refused, /healthz, /readyz and /metrics aside; recorded with feedback.",
    )
    session_minutes: int = Field(
        480,
        ge=1,
        description="How long the session a page gives the browser lasts (with API keys set); "
        "one used past half its life is renewed.",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Signs the pages' sessions; give every replica the same one. Unset: derived "
        "from NEWSRAG_API_KEYS (random per process without keys, where no session is needed).",
    )
    rate_limit_per_minute: int = Field(
        30, ge=0, description="Questions per minute per client (0 = no limit); over it: 429."
    )
    max_question_chars: int = Field(
        1000, ge=10, description="Longest question accepted, in characters."
    )
    max_body_kb: int = Field(
        64,
        ge=1,
        description="Largest request body accepted on /api, /v1 and Gradio's routes, in KiB "
        "(the admin upload has its own limit).",
    )

    # --- keeping a served archive current -------------------------------------------------
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys for the admin routes (POST /api/admin/ingest and /api/admin/sync: "
        "`newsrag ingest --server`, `newsrag sync --server`), sent as `Authorization: Bearer "
        "KEY` or `X-API-Key`. Unset: the "
        "NEWSRAG_API_KEYS; neither set: the admin routes are refused.",
    )
    admin_key: SecretStr | None = Field(
        None,
        description="The key `newsrag ingest --server URL` and `newsrag sync --server URL` "
        "send: one of that server's admin keys (or use --key).",
    )
    admin_max_upload_mb: float = Field(
        512.0, gt=0, description="Largest upload POST /api/admin/ingest accepts, in MB."
    )
    refresh_seconds: float = Field(
        2.0,
        ge=0,
        description="How often a serving process checks the manifest for changes written by "
        "other processes (with NEWSRAG_CHROMA_URL); its own admin writes count at once. "
        "0 = never.",
    )

    # --- operations -----------------------------------------------------------------------
    metrics_key: SecretStr | None = Field(
        None,
        description="If set, GET /metrics (Prometheus) needs it as `Authorization: Bearer KEY` "
        "(Prometheus: `authorization: {credentials: KEY}`). Unset: /metrics is open, like "
        "/healthz: it shows counts and timings, never questions or articles.",
    )

    @field_validator("allowed_origins", "api_keys", "admin_keys", "fetch_allow", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            if v.strip().startswith("["):
                return json.loads(v)
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") > 2:
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], "
                    "e.g. https://intranet.example.org"
                )
        return [o.rstrip("/") for o in v]

    @field_validator("fetch_allow")
    @classmethod
    def _fetch_allow(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
            except ValueError:
                if not _HOST_NAME.match(entry.strip().lower().rstrip(".")):
                    raise ValueError(
                        f"{entry!r} is neither a host name, an IP address nor a network: "
                        "write e.g. news.intra, 10.1.2.3 or 10.0.0.0/8"
                    ) from None
        return [entry.strip() for entry in v]

    @field_validator("chroma_url")
    @classmethod
    def _url_scheme(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. http://127.0.0.1:8000")
        return v or None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)
