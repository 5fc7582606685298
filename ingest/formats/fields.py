"""The canonical article fields, and where a source keeps each of them (``--map``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rag.errors import InputError

CANONICAL_FIELDS = ("id", "title", "text", "lang", "date", "url", "source")


@dataclass(frozen=True)
class Fields:
    """Where each canonical field is found in a record: the mapped name, then the canonical.

    A mapped name matches a key exactly or, failing that, the ONE key equal to it but for case
    (``matched``). Front-matter keys are lower-cased, so ``--map title=Headline`` must find
    ``headline``; and in a CSV or JSON export a ``Headline`` column mapped as ``headline`` is a
    slip of the keyboard, not another field. When several keys differ from the name only in
    case (``Body`` and ``BODY``) none is guessed: the mapped name is absent and the canonical
    name is tried. Canonical names match exactly, as they always have.
    """

    mapping: Mapping[str, str]

    def names(self, canonical: str) -> tuple[str, ...]:
        mapped = self.mapping.get(canonical)
        return (mapped, canonical) if mapped and mapped != canonical else (canonical,)

    def matched(self, keys: Collection[str]) -> Fields:
        """These fields with each mapped name replaced by the key it stands for in ``keys``."""
        resolved = {canonical: _key_for(name, keys) for canonical, name in self.mapping.items()}
        return self if resolved == self.mapping else Fields(resolved)

    def key_in(self, canonical: str, keys: Iterable[str]) -> str | None:
        present = set(keys)
        return next((n for n in self.names(canonical) if n in present), None)

    def value(self, canonical: str, record: Mapping[str, Any]) -> tuple[str | None, Any]:
        """``(key, value)`` of the first candidate holding a non-empty value."""
        for name in self.names(canonical):
            value = record.get(name)
            if value is not None and not (isinstance(value, str) and not value.strip()):
                return name, value
        return None, None


def _key_for(name: str, keys: Collection[str]) -> str:
    if name in keys:
        return name
    folded = name.casefold()
    same = [k for k in keys if isinstance(k, str) and k.casefold() == folded]
    return same[0] if len(same) == 1 else name


# --- the --map option ---------------------------------------------------------------------------
def parse_field_map(spec: str | None) -> dict[str, str]:
    """``"id=unit_id,text=article_content"`` -> ``{"id": "unit_id", "text": "article_content"}``.

    Keys are canonical fields (``CANONICAL_FIELDS``), values the source's column or key names.
    A mapped name absent from a record falls back to the canonical name, so one ``--map`` can
    serve a folder mixing mapped and canonical files; its case may differ from the key's as
    long as only one key matches (see ``Fields``).
    """
    if spec is None or not spec.strip():
        return {}
    valid = ", ".join(CANONICAL_FIELDS)
    form = "FIELD=COLUMN[,FIELD=COLUMN…], e.g. --map id=unit_id,title=article_title,text=body"
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        canonical, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not canonical or not column:
            raise InputError(f"--map: {part.strip()!r} is not FIELD=COLUMN; write it as {form}")
        if canonical.lower() not in CANONICAL_FIELDS:
            hint = (
                f" (did you mean {column.lower()}={canonical}?)"
                if column.lower() in CANONICAL_FIELDS
                else ""
            )
            raise InputError(
                f"--map: {canonical!r} is not a field newsrag knows{hint}; the fields are "
                f"{valid}, each mapped to a column as {form}"
            )
        canonical = canonical.lower()
        if canonical in mapping:
            raise InputError(f"--map: {canonical!r} is mapped twice; map each field once: {form}")
        if column in mapping.values():
            other = next(k for k, v in mapping.items() if v == column)
            raise InputError(
                f"--map: column {column!r} is mapped to both {other!r} and {canonical!r}; "
                "map each column to one field"
            )
        mapping[canonical] = column
    return mapping
