"""detect_language: Italian and English reliable, the neighbours labelled, "und" when unsure."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rag.language import LANGUAGES, UNDETERMINED, detect_language

REPO = Path(__file__).resolve().parents[2]


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_belebele_passages_are_recognised(shared_data):
    passages = _jsonl(shared_data / "belebele_it_en.passages.jsonl")
    assert len(passages) == 976
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for p in passages:
        total[p["lang"]] += 1
        right[p["lang"]] += detect_language(p["text"]) == p["lang"]
    assert total == {"it": 488, "en": 488}
    for lang in ("it", "en"):
        assert right[lang] / total[lang] >= 0.99, (lang, right[lang], total[lang])


def test_fakes_articles_are_english_and_fast(shared_data):
    articles = _jsonl(shared_data / "fakes_syria_en.passages.jsonl")
    detect_language("warm up the detector once")
    started = time.perf_counter()
    found = Counter(detect_language(f"{a['title']}\n{a['text']}") for a in articles)
    per_article = (time.perf_counter() - started) / len(articles)
    assert found["en"] >= 0.99 * len(articles)
    assert per_article < 0.02  # measured ~1 ms; generous for slow CI machines


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        (
            "it",
            "Il JNIM ha attaccato e conquistato una base militare ad Acharan, nel nord del Mali.",
        ),
        ("en", "The Islamic State is now confined to the desert around Deir Ezzor and Homs."),
        (
            "fr",
            "Les soldats français ont quitté le Mali après neuf années de présence dans le pays.",
        ),
        ("de", "Die Bundeswehr beendet ihren Einsatz in Mali und zieht die Soldaten bis Mai ab."),
        ("es", "El ejército sirio recuperó el control de la ciudad después de varias semanas."),
        ("pt", "As forças armadas anunciaram uma nova operação contra os grupos armados no norte."),
        ("ar", "أعلنت قوات سوريا الديمقراطية السيطرة الكاملة على مدينة الرقة بعد معارك عنيفة."),
        ("ru", "Министерство обороны сообщило об ударах по позициям боевиков в провинции Идлиб."),
        ("tr", "Türk Silahlı Kuvvetleri kuzey Suriye'de yeni bir askeri operasyon başlattı."),
        ("nl", "De Nederlandse regering heeft besloten de militaire missie in Irak te verlengen."),
    ],
)
def test_other_languages_are_labelled(lang, text):
    assert lang in LANGUAGES
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "   \n", "12345 678", "OK", "SDF", "— / —"])
def test_undecidable_text_is_und(text):
    assert detect_language(text) == UNDETERMINED


def test_title_and_teaser_of_the_italian_seed(seeds_dir):
    text = (seeds_dir / "001_af3cd1c6c052b50c.txt").read_text("utf-8")
    assert detect_language(text) == "it"
    assert detect_language((seeds_dir / "000_6473641cabe65d09.txt").read_text("utf-8")) == "en"


def test_detector_is_built_lazily_not_at_import():
    code = "import sys, rag.language; print('lingua' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "False"
