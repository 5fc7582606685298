"""``newsrag chat``: a conversation on the terminal. Follow-ups keep their context."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from rag.chat import Done, Engine, Token
from rag.errors import NewsragError
from rag.types import Filters, Message, Turn

from .render import print_turn_footer

HELP = "Ask in Italian or English. /new starts a new conversation, /quit (or Ctrl-D) leaves."


def stream_turn(
    engine: Engine,
    question: str,
    console: Console,
    *,
    filters: Filters,
    history: Sequence[Message] = (),
    echo: bool = True,
) -> Turn:
    """Asks ``question``, printing the answer as it streams (unless ``echo`` is off)."""
    turn = None
    for event in engine.ask_stream(question, history=history, filters=filters):
        if isinstance(event, Token) and echo:
            console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
        elif isinstance(event, Done):
            turn = event.turn
    assert turn is not None, "ask_stream ends with its turn"
    return turn


def run_chat(engine: Engine, filters: Filters, console: Console) -> None:
    console.print(f"[dim]{escape(HELP)} ({escape(engine.mode)})[/]")
    history: list[Message] = []
    while True:
        try:
            question = console.input("[bold green]> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return
        if question == "/new":
            history.clear()
            console.print("[dim]new conversation[/]")
            continue
        try:
            turn = stream_turn(engine, question, console, filters=filters, history=history)
        except NewsragError as exc:  # e.g. the LLM server went away: say so, keep chatting
            console.print(f"\n[bold red]error:[/] {escape(str(exc))}")
            continue
        print_turn_footer(console, turn)
        history += [Message("user", question), Message("assistant", turn.answer)]
