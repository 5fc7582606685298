"""Per-model values chosen in app/compose.py: the model's measured value unless a setting says."""

from __future__ import annotations

from types import SimpleNamespace

from app.compose import language_shift, story_threshold
from rag.config import Settings
from rag.models import REGISTRY

E5 = SimpleNamespace(spec=REGISTRY["multilingual-e5-small"])
GEMMA = SimpleNamespace(spec=REGISTRY["embeddinggemma-300m"])
HUB = SimpleNamespace(spec=None)  # a hub id or a folder: nothing was measured on it


def test_language_shift_is_the_models_measured_value_unless_set(tmp_path):
    settings = Settings(index_dir=tmp_path)
    assert language_shift(settings, E5) == 0.75
    assert language_shift(settings, GEMMA) == 0.0  # measured: no gain
    assert language_shift(settings, HUB) == 0.0
    chosen = Settings(index_dir=tmp_path, language_shift=0.3)
    assert language_shift(chosen, E5) == 0.3
    assert language_shift(Settings(index_dir=tmp_path, language_shift=0), E5) == 0


def test_story_threshold_is_the_models_calibrated_value_unless_set(tmp_path):
    settings = Settings(index_dir=tmp_path)
    assert story_threshold(settings, E5) == 0.85
    assert story_threshold(settings, GEMMA) == 0.75
    assert story_threshold(Settings(index_dir=tmp_path, story_threshold=0.9), GEMMA) == 0.9
