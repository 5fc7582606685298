"""``newsrag stats``: what an index holds. Loads no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rag.archive.index import ArchiveIndex, read_info
from rag.archive.manifest import Manifest
from rag.config import Settings
from rag.errors import StoreError


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def collect_stats(settings: Settings) -> dict[str, Any]:
    info = read_info(settings)
    if info.embedding_model is None or info.dim is None:
        raise StoreError(
            f"No index at {settings.index_dir}: run `newsrag ingest --index {settings.index_dir} "
            "PATH...` first."
        )
    index = ArchiveIndex.open(settings, model_label=info.embedding_model, dim=info.dim)
    try:
        data: dict[str, Any] = index.manifest.stats()
        data["chunks_in_store"] = index.store.count_chunks()
    finally:
        index.close()
    data.update(
        index_dir=str(settings.index_dir),
        store=info.store,
        embedding_model=info.embedding_model,
        dim=info.dim,
        index_bytes=_folder_bytes(settings.index_dir),
        manifest=str(settings.index_dir / Manifest.FILENAME),
    )
    return data


def render_stats(console: Console, data: dict[str, Any]) -> None:
    head = Table(show_header=False, box=None, title=f"index {data['index_dir']}")
    for key, label in [
        ("articles", "articles"),
        ("chunks", "chunks"),
        ("stories", "stories"),
        ("stories_in_several_languages", "stories in several languages"),
        ("embedding_model", "embedding model"),
        ("dim", "dimension"),
        ("store", "store"),
    ]:
        head.add_row(label, str(data[key]))
    head.add_row("dates", f"{data['date_min'] or '-'} … {data['date_max'] or '-'}")
    head.add_row("size on disk", f"{data['index_bytes'] / 1e6:.1f} MB")
    if data["pending"]:
        head.add_row("interrupted", f"{data['pending']} articles (run ingest again to finish)")
    console.print(head)
    for key, title in (("by_lang", "language"), ("by_source", "source")):
        table = Table(title, "articles", "chunks")
        for name, row in data[key].items():
            table.add_row(name or "-", str(row["articles"]), str(row["chunks"]))
        console.print(table)
