"""The README's configuration table, generated from the Settings fields.

    python -m ui.settings_doc          # print the table
    python -m ui.settings_doc --write  # replace it in README.md (between the markers)

tests/unit/test_settings_doc.py fails when the README's table and the Settings disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from rag.config import Settings

START, END = "<!-- settings:start -->", "<!-- settings:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None or value == [] or value is PydanticUndefined:
        return "unset"
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        doc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `NEWSRAG_{name.upper()}` | {_default(name)} | {doc} |")
    return "\n".join(rows)


def replace_in(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    if "--write" in sys.argv:
        README.write_text(replace_in(README.read_text("utf-8")), "utf-8")
    else:
        print(table())


if __name__ == "__main__":
    main()
