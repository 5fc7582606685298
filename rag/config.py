"""One typed settings object, read once at the entry point and handed down.

Every field can be set as an environment variable ``NEWSRAG_<FIELD>`` or in a ``.env`` file;
command-line options override both. The descriptions feed ``--help`` and the README table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
