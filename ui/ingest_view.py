"""``newsrag ingest`` on a terminal: a progress bar while it runs, a summary after."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.compose import ingest_parts
from ingest.sync import Counts, IngestReport
from rag.config import Settings

MAX_PROBLEM_LINES = 30


def run_ingest(
    settings: Settings,
    paths: Sequence[Path],
    *,
    field_map: Mapping[str, str],
    prune: bool,
    rebuild: bool,
    quiet: bool = False,
) -> IngestReport:
    err = Console(stderr=True, highlight=False)
    with err.status("opening the index…", spinner="dots"):
        parts = ingest_parts(settings, rebuild=rebuild)
    try:
        with progress_bar(err, quiet) as update:
            report = parts.ingestor.run(
                paths,
                field_map=field_map,
                max_bytes=settings.max_file_bytes,
                prune=prune,
                progress=update,
            )
    finally:
        parts.close()
    print_summary(Console(highlight=False), report, str(settings.index_dir))
    return report


@contextmanager
def progress_bar(err: Console, quiet: bool) -> Iterator[Callable[[Counts], None]]:
    """A progress bar on stderr, and the function that moves it."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("files {task.completed:.0f}/{task.fields[files]}"),
        BarColumn(),
        TextColumn(
            "{task.fields[articles]} articles · {task.fields[chunks]} chunks "
            "· {task.fields[rate]:.1f} chunks/s"
        ),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    with progress:
        task = progress.add_task("ingest", total=None, files="?", articles=0, chunks=0, rate=0.0)

        def update(c: Counts) -> None:
            rate = c.chunks / c.seconds if c.seconds > 0 else 0.0
            progress.update(
                task,
                completed=c.files_done,
                total=c.files_total,
                files=c.files_total,
                articles=c.articles,
                chunks=c.chunks,
                rate=rate,
            )

        yield update


def print_summary(console: Console, r: IngestReport, target: str) -> None:
    """The summary of an ingest into ``target`` (an index folder, or a server's URL)."""
    table = Table(title=f"ingest into {target}", show_header=False, box=None)
    rows = [
        ("files", r.files),
        ("articles read", r.articles_seen),
        ("added", r.added),
        ("updated", r.updated),
        ("unchanged", r.unchanged),
        ("resumed from an interrupted run", r.recovered),
        ("removed (--prune)", r.removed),
        ("chunks written", r.chunks_written),
        ("stories linked across languages", r.stories_linked),
        ("time", f"{r.seconds:.1f} s ({r.chunks_per_second:.1f} chunks/s)"),
        ("problems", len(r.problems)),
        ("warnings", len(r.warnings)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    if r.problems:
        console.print("[bold yellow]problems[/] (these inputs were skipped; the rest was stored):")
        for p in r.problems[:MAX_PROBLEM_LINES]:
            console.print(f"  {escape(str(p))}", soft_wrap=True)
        if len(r.problems) > MAX_PROBLEM_LINES:
            kinds = Counter(p.path for p in r.problems[MAX_PROBLEM_LINES:])
            more = ", ".join(f"{Path(k).name}: {v}" for k, v in kinds.most_common(5))
            console.print(f"  … and {len(r.problems) - MAX_PROBLEM_LINES} more ({more})")
    if r.warnings:
        console.print("[bold yellow]warnings[/] (read and stored; check these):")
        for p in r.warnings[:MAX_PROBLEM_LINES]:
            console.print(f"  {escape(str(p))}", soft_wrap=True)
        if len(r.warnings) > MAX_PROBLEM_LINES:
            console.print(f"  … and {len(r.warnings) - MAX_PROBLEM_LINES} more")
    if r.articles_seen == 0:
        console.print("[bold red]nothing was ingested[/]: no readable article in the input.")
