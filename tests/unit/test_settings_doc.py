"""The README's configuration table says what the Settings really are."""

from __future__ import annotations

from rag.config import Settings
from ui import settings_doc


def test_readme_table_matches_the_settings():
    readme = settings_doc.README.read_text("utf-8")
    assert settings_doc.replace_in(readme) == readme, (
        "README.md's configuration table is out of date: run `python -m ui.settings_doc --write`"
    )


def test_every_setting_is_documented_with_its_default():
    text = settings_doc.table()
    for name, field in Settings.model_fields.items():
        assert f"`NEWSRAG_{name.upper()}`" in text
        assert field.description, f"Settings.{name} has no description"
    assert "| `NEWSRAG_CHUNK_TOKENS` | `200` |" in text
    assert "| `NEWSRAG_LLM` | unset |" in text
