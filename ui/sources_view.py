"""``newsrag sources add|list|remove`` and ``newsrag sync`` on a terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.sources import duration
from ingest.source_sync import SyncReport, sync_sources
from rag.config import Settings

MAX_PROBLEM_LINES = 30
PROBLEMS_PER_SOURCE = 5


def render_sources(console: Console, rows: list[dict[str, Any]], index_dir: Path) -> None:
    if not rows:
        console.print(
            f"No sources in {index_dir}: follow a feed, a sitemap, a site or a folder with "
            "`newsrag sources add URL|PATH [--every 30m]`."
        )
        return
    table = Table("name", "kind", "every", "last sync", "articles", "problems",
                  title=f"sources of {index_dir}")  # fmt: skip
    now = time.time()
    for r in rows:
        kind = r["detected"] or r["kind"]
        last = r["last_sync"]
        if last is None:
            when = "never"
        else:
            state = "ok" if last["reached"] else "unreachable"
            when = f"{_ago(now, r['last_sync_at'])}, {state} (+{last['added']} new)"
        problems = str(len(last["problems"])) if last else "-"
        table.add_row(r["name"], kind, r["every"], when, str(r["articles"]), problems)
    console.print(table)
    for r in rows:
        console.print(f"  {escape(r['name'])}: {escape(r['location'])}", soft_wrap=True)
    for r in rows:
        last = r["last_sync"]
        if not last or not last["problems"]:
            continue
        console.print(f"[bold yellow]{escape(r['name'])}[/]: problems at the last sync")
        for p in last["problems"][:PROBLEMS_PER_SOURCE]:
            console.print(f"  {escape(p['url'])}: {escape(p['reason'])}", soft_wrap=True)
        if len(last["problems"]) > PROBLEMS_PER_SOURCE:
            more = len(last["problems"]) - PROBLEMS_PER_SOURCE
            console.print(f"  … and {more} more (`newsrag sources list --json` has them all)")


def run_sync(
    settings: Settings, names: Sequence[str], *, force: bool, quiet: bool = False
) -> SyncReport:
    # the engine's modules (app.compose, ~0.4 s): `sources list|add|remove` do without them
    from app.compose import ingest_parts

    err = Console(stderr=True, highlight=False)
    with err.status("opening the index…", spinner="dots") as status:
        parts = ingest_parts(settings, kind="sync")
        try:

            def progress(message: str) -> None:
                if not quiet:
                    status.update(f"syncing {escape(message)}")

            report = sync_sources(
                parts.ingestor, settings, names=names, force=force, progress=progress
            )
        finally:
            parts.close()  # and the writer lock
    print_sync_summary(Console(highlight=False), report, settings.index_dir)
    return report


def print_sync_summary(console: Console, report: SyncReport, into: Path | str) -> None:
    """The sync's table and problems; ``into``: the index, or the server that holds it."""
    table = Table("source", "state", "listed", "fetched", "304", "added", "updated",
                  "unchanged", "problems", title=f"sync into {into}")  # fmt: skip
    for s in report.sources:
        unchanged = s.unchanged + s.skipped_unchanged
        table.add_row(s.name, "ok" if s.reached else "down", str(s.listed), str(s.fetched),
                      str(s.not_modified), str(s.added), str(s.updated), str(unchanged),
                      str(len(s.problems)))  # fmt: skip
    console.print(table)
    left = sum(s.left_for_next for s in report.sources)
    console.print(
        f"{report.added} added, {report.updated} updated in {report.seconds:.1f} s"
        + (f"; {left} pages left for the next syncs (NEWSRAG_SYNC_MAX_PAGES)" if left else "")
    )
    problems = report.problems
    if problems:
        console.print(
            "[bold yellow]problems[/] (the rest was stored; failed URLs are tried again at "
            "the next sync):"
        )
        for p in problems[:MAX_PROBLEM_LINES]:
            console.print(f"  {escape(str(p))}", soft_wrap=True)
        if len(problems) > MAX_PROBLEM_LINES:
            console.print(f"  … and {len(problems) - MAX_PROBLEM_LINES} more "
                          "(`newsrag sources list --json` has them all)")  # fmt: skip


def _ago(now: float, iso: str | None) -> str:
    if not iso:
        return "never"
    return duration(now - datetime.fromisoformat(iso).timestamp()) + " ago"
