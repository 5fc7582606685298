"""Build the object graph from settings: the one place where the parts are wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ingest.registry import SourceRegistry
from ingest.stories import StoryLinker
from ingest.sync import Ingestor
from rag.answer import Answerer
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.judge.model import AnswerJudge, load_judge, weights_path
from rag.archive.index import ArchiveIndex, delete_index, read_info
from rag.archive.manifest import Manifest
from rag.archive.writer_lock import WriterLock
from rag.chat import Engine, Rewriter
from rag.config import Settings
from rag.embedding import (
    Embedder,
    LazyEmbedder,
    ModelEmbedder,
    lazy_embedder,
    load_embedder,
)
from rag.errors import ModelError, StoreError
from rag.models import language_centroids
from rag.rerank import CrossEncoderReranker
from rag.retrieval import RetrievalConfig, Retriever

log = logging.getLogger(__name__)


@dataclass
class IngestParts:
    embedder: Embedder
    index: ArchiveIndex
    ingestor: Ingestor
    lock: WriterLock

    def close(self) -> None:
        self.index.close()
        self.lock.release()


def language_shift(settings: Settings, embedder: ModelEmbedder) -> float:
    if settings.language_shift is not None:
        return settings.language_shift
    return embedder.spec.language_shift if embedder.spec else 0.0


def story_threshold(settings: Settings, embedder: Embedder) -> float:
    if settings.story_threshold is not None:
        return settings.story_threshold
    spec = getattr(embedder, "spec", None)  # the model's calibrated value, when it has one
    return spec.story_threshold if spec else StoryLinker.threshold


def embedder_for(settings: Settings) -> ModelEmbedder:
    return load_embedder(
        settings.embedding_model,
        settings.models_dir,
        device=settings.device,
        batch_size=settings.embed_batch_size,
        quantize=settings.quantize,
        runtime=settings.embedding_runtime,
    )


def lazy_embedder_for(settings: Settings, *, writes: bool = False) -> LazyEmbedder:
    """``writes``: for a local ingest or sync, which embeds whole chunks in batches. There
    ``auto`` means torch: onnxruntime embeds one question 2-4x faster but chunks of 200-500
    tokens slower on these CPUs (60 FA-KES chunks: 1,568 tokens/s against 2,262). The vectors
    are the same either way (rag/onnx_embedder.py). Only there may the chunks' matrix products
    run in bf16 (``embed_precision``): an answer's sentence vectors stay fp32."""
    runtime = settings.embedding_runtime
    if writes and runtime == "auto":
        runtime = "torch"
    return lazy_embedder(
        settings.embedding_model,
        settings.models_dir,
        device=settings.device,
        batch_size=settings.embed_batch_size,
        quantize=settings.quantize,
        runtime=runtime,
        precision=settings.embed_precision if writes else "fp32",
    )


def ingest_parts(settings: Settings, *, rebuild: bool = False, kind: str = "ingest") -> IngestParts:
    """What a local ingest (or ``kind="sync"``) writes with; it holds the index's writer lock
    until ``close``.

    The lock comes first, so a server or another ingest holding the index is one clear error
    before the model loads (rag/archive/writer_lock.py). On an index that exists the model
    loads when something is to be embedded (rag/embedding.py, LazyEmbedder), so a run that finds
    nothing new takes about a second; a new or rebuilt index, which will embed, loads it first, so a
    model that fails to load leaves no empty index behind.
    """
    lock = WriterLock(settings.index_dir).acquire(kind)
    try:
        embedder = lazy_embedder_for(settings, writes=True).check_reachable()
        if rebuild or not (settings.index_dir / Manifest.FILENAME).exists():
            embedder.model()
        if rebuild:
            rebuild_keeping_sources(settings)
        index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    except BaseException:
        lock.release()
        raise
    return IngestParts(embedder, index, ingestor_for(settings, index, embedder), lock)


def ingestor_for(
    settings: Settings, index: ArchiveIndex, embedder: Embedder, *, update_lexical: bool = True
) -> Ingestor:
    return Ingestor(
        index,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        batch_chunks=settings.ingest_batch_chunks,
        linker=StoryLinker(threshold=story_threshold(settings, embedder)),
        update_lexical=update_lexical,
    )


def rebuild_keeping_sources(settings: Settings) -> None:
    """Delete the index for ``ingest --rebuild``, but keep following its sources.

    Their definitions are what a person typed (`newsrag sources add`); their fetch state and
    last reports describe the index being deleted, so they go with it: the next sync reads
    every source afresh into the new index.
    """
    kept = []
    if SourceRegistry.exists(settings.index_dir):
        with SourceRegistry(settings.index_dir) as registry:
            kept = registry.all()
        if not (settings.index_dir / "manifest.sqlite").exists():
            (settings.index_dir / "sources.sqlite").unlink()  # sources only, no index yet
    delete_index(settings)
    if kept:
        with SourceRegistry(settings.index_dir) as registry:
            for s in kept:
                registry.add(s.location, kind=s.kind, every_seconds=s.every_seconds, name=s.name)


@dataclass(frozen=True)
class JudgeChoice:
    """The answer judge in use, or None and why not (shown in /api/status and the page)."""

    judge: AnswerJudge | None
    problem: str | None = None


def judge_for(settings: Settings, embedder: ModelEmbedder) -> JudgeChoice:
    """The judge that ``settings.judge`` names for this embedding model. A missing, corrupt
    or foreign file is a problem reported, not a failure: the answerer works without it."""
    choice = settings.judge.strip()
    if choice == "off":
        return JudgeChoice(None)
    if choice == "auto":
        if embedder.spec is None or not weights_path(embedder.spec.name).is_file():
            return JudgeChoice(None, f"no answer judge is shipped for {embedder.label}")
        folder = settings.models_dir / embedder.spec.name
    else:
        folder = Path(choice)
    try:
        return JudgeChoice(load_judge(folder, embedder.label))
    except ModelError as exc:
        log.warning("answering without the judge: %s", exc)
        return JudgeChoice(None, str(exc))


@dataclass
class EngineParts:
    engine: Engine
    index: ArchiveIndex
    embedder: ModelEmbedder

    def close(self) -> None:
        self.index.close()


def open_index_for_queries(
    settings: Settings, embedder: Embedder, *, create: bool = False
) -> ArchiveIndex:
    """The index to answer from; with ``create``, an empty one when there is none yet (a
    server that will fill it from its sources)."""
    info = read_info(settings)
    if info.embedding_model is None and not create:
        raise StoreError(
            f"No index at {settings.index_dir}: run `newsrag ingest --index "
            f"{settings.index_dir} PATH...` first (or `make demo` for the sample archive), or "
            f"follow a feed: `newsrag sources add URL --index {settings.index_dir}`, then "
            "`newsrag serve` syncs it."
        )
    return ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)


def refusal(settings: Settings, embedder: ModelEmbedder) -> dict[str, float]:
    """The model's calibrated refusal arguments; NEWSRAG_REFUSAL_THRESHOLD overrides one."""
    found = embedder.spec.refusal() if embedder.spec else {"refusal_threshold": 0.80}
    if settings.refusal_threshold is not None:
        found["refusal_threshold"] = settings.refusal_threshold
    return found


def engine_parts(settings: Settings, *, lang: str = "en", create: bool = False) -> EngineParts:
    """Everything `ask`, `chat`, the web chat and the API need, built from settings.

    ``create``: an empty index when there is none yet (``newsrag serve`` on an index that only
    has sources, which its background sync fills)."""
    embedder = embedder_for(settings)
    index = open_index_for_queries(settings, embedder, create=create)
    retriever = Retriever(
        index,
        embedder,
        RetrievalConfig(
            candidates=settings.retrieval_candidates,
            lexical_weight=settings.lexical_weight,
            language_shift=language_shift(settings, embedder),
        ),
        model_centroids=language_centroids(embedder.spec.name) if embedder.spec else None,
    )
    answerer: Answerer
    rewriter: Rewriter | None = None
    if settings.llm:
        # LangChain and its clients take seconds to import: only when an LLM is configured
        from rag.answer.llm import LLMAnswerer, LLMRewriter, build_chat_model, parse_llm_spec

        spec = parse_llm_spec(settings.llm)
        model = build_chat_model(
            spec,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            timeout=settings.llm_timeout,
        )
        answerer = LLMAnswerer(model, name=f"llm:{spec.model}")
        rewriter = LLMRewriter(model)
    else:
        chosen = judge_for(settings, embedder)
        answerer = ExtractiveAnswerer(embedder, judge=chosen.judge, judge_problem=chosen.problem)
    reranker = None
    if settings.reranker:
        reranker = CrossEncoderReranker(settings.reranker, device=settings.device)
    engine = Engine(
        retriever,
        answerer,
        embedder,
        **refusal(settings, embedder),
        passages=settings.answer_passages,
        context_chunks=0 if settings.llm else 1,
        max_history=2 * settings.history_turns,
        rewriter=rewriter,
        reranker=reranker,
        default_lang=lang,
    )
    return EngineParts(engine, index, embedder)
