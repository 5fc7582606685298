"""Turns, passages and citations as JSON and on a terminal."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rag.answer.messages import format_date
from rag.types import Citation, Passage, Turn


def to_dict(obj: Any) -> dict[str, Any]:
    """A frozen record (Turn, Passage, Citation…) as plain JSON-ready data."""
    return dataclasses.asdict(obj)


def passages_to_json(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    return [to_dict(p) for p in passages]


def _header(n: int, title: str, date: str | None, lang: str, source: str | None, url: str | None,
            also_in: Sequence[str], ui_lang: str) -> Text:  # fmt: skip
    line = Text(f"[{n}] ", style="bold cyan")
    line.append(title or "(untitled)", style="bold")
    meta = [format_date(date, ui_lang), lang]
    if source:
        meta.append(source)
    if also_in:
        meta.append(("anche in " if ui_lang == "it" else "also in ") + ", ".join(also_in))
    line.append("  " + " · ".join(meta), style="dim")
    if url:
        line.append(f"\n    {url}", style="underline blue")
    return line


def print_passages(console: Console, passages: Sequence[Passage], ui_lang: str = "en") -> None:
    for n, p in enumerate(passages, 1):
        console.print(_header(n, p.title, p.date, p.lang, p.source, p.url, p.also_in, ui_lang))
        console.print(Text(f"    score {p.score:.3f} · {p.article_id}", style="dim"))
        console.print(Text("    " + p.text.replace("\n", " ")[:400]), soft_wrap=True)
        console.print()


def print_citations(console: Console, citations: Sequence[Citation], ui_lang: str) -> None:
    for c in citations:
        console.print(_header(c.n, c.title, c.date, c.lang, c.source, c.url, c.also_in, ui_lang))
        quote = Text("    ")
        if c.highlight:
            a, b = c.highlight
            quote.append(c.quote[:a])
            quote.append(c.quote[a:b], style="bold yellow")
            quote.append(c.quote[b:])
        else:
            quote.append(c.quote)
        console.print(quote, soft_wrap=True)
        console.print()


def print_turn_footer(console: Console, turn: Turn) -> None:
    console.print()
    if turn.refused:
        for n, p in enumerate(turn.passages[:3], 1):
            console.print(Text(f"  {n}. {p.article_id}", style="dim"))
        return
    print_citations(console, turn.citations, turn.lang)
    total = turn.timings.get("total_ms", 0.0)
    console.print(f"[dim]{escape(turn.mode)} · {total:.0f} ms[/]")
