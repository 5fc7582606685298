"""What a request's JSON may carry: valid Unicode text, and objects nested a few levels deep.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``); Python decodes it into a string
that no UTF-8 encoder accepts, so it failed far from the request, as an HTTP 500: in the
language detector (/api/ask, the stream's ``event: error internal``), in SQLite
(/api/feedback), in the JSON of the answer (/v1's ``model``). And ``json.loads`` of a value
nested 5,000 levels deep raises RecursionError, a 500 on /api/admin/ingest (issue 15).
Both are the client's mistake, so they are refused where the request is read, with a 422
that names the field. The checks walk a value without recursion; ``MAX_DEPTH`` bounds the
free-form fields (feedback citations, OpenAI content parts, the upload's meta), far deeper
than anything our clients send.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins a valid pair: one left is lone
T = TypeVar("T")


def text_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be taken (a lone surrogate, where; too deep), or None."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                where = f" at {path}" if path else ""
                return (
                    f"has a lone surrogate ({ascii(found.group())[1:-1]}){where}, which is not "
                    "valid Unicode text: send the text as UTF-8"
                )
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"is nested more than {max_depth} levels deep{f' at {path}' if path else ''}"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                if isinstance(key, str):
                    stack.append((key, path, depth + 1))
                step = f"[{key}]" if isinstance(key, int) else f".{key}" if path else str(key)
                stack.append((child, f"{path}{step}", depth + 1))
    return None


def valid_text(value: T) -> T:
    """A pydantic validator of the JSON as sent: ``value`` unchanged, or a ValueError."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str, BeforeValidator(valid_text)]  # before: our message, not pydantic's
