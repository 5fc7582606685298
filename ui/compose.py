"""Build the object graph from settings: the one place where the parts are wired together."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.stories import StoryLinker
from ingest.sync import Ingestor
from rag.config import Settings
from rag.embedding import Embedder, SentenceTransformerEmbedder, load_embedder
from rag.index import ArchiveIndex, delete_index


@dataclass
class IngestParts:
    embedder: Embedder
    index: ArchiveIndex
    ingestor: Ingestor


def story_threshold(settings: Settings, embedder: SentenceTransformerEmbedder) -> float:
    if settings.story_threshold is not None:
        return settings.story_threshold
    return embedder.spec.story_threshold if embedder.spec else StoryLinker.threshold


def ingest_parts(settings: Settings, *, rebuild: bool = False) -> IngestParts:
    embedder = load_embedder(
        settings.embedding_model,
        settings.models_dir,
        device=settings.device,
        batch_size=settings.embed_batch_size,
        quantize=settings.quantize,
    )
    if rebuild:
        delete_index(settings)
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    ingestor = Ingestor(
        index,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        batch_chunks=settings.ingest_batch_chunks,
        linker=StoryLinker(threshold=story_threshold(settings, embedder)),
    )
    return IngestParts(embedder, index, ingestor)
