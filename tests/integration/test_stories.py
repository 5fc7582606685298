"""Story linking with the real converted model on real articles."""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from ingest.stories import StoryLinker
from ingest.sync import Ingestor
from rag.archive.index import ArchiveIndex
from rag.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _ingest(tmp_path: Path, embedder, *paths: Path) -> ArchiveIndex:
    index = ArchiveIndex.open(
        Settings(index_dir=tmp_path / "index"), model_label=embedder.label, dim=embedder.dim
    )
    Ingestor(index, embedder, linker=StoryLinker(threshold=0.85)).run(
        list(paths), max_bytes=10_000_000
    )
    return index


def _linked_pairs(index: ArchiveIndex) -> set[frozenset[str]]:
    stories: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in index.manifest.iter_records():
        stories[r.story_id or r.id].append((r.id, r.lang))
    return {
        frozenset((a, b))
        for members in stories.values()
        for (a, la), (b, lb) in combinations(members, 2)
        if la != lb
    }


def test_the_two_seed_articles_are_one_story(tmp_path, seeds_dir, e5_embedder):
    index = _ingest(tmp_path, e5_embedder, seeds_dir)
    records = {r.lang: r for r in index.manifest.iter_records()}
    assert set(records) == {"en", "it"}
    assert records["en"].story_id == records["it"].story_id
    # the unrelated teaser scraped before the Italian article is kept as article text
    assert "Acharan" in records["it"].text
    assert "skip to Main Content" not in records["en"].text
    assert "Back To Top" not in records["en"].text
    index.close()


def _belebele_subset(shared_data: Path, tmp_path: Path, *, unpaired: bool) -> Path:
    lines = (shared_data / "sample" / "belebele_wikinews_it_en.passages.jsonl").read_text("utf-8")
    rows = [json.loads(line) for line in lines.splitlines()]
    pairs = sorted({r["pair_id"] for r in rows})
    first = set(pairs[: len(pairs) // 2])
    keep = [r for r in rows if not unpaired or (r["lang"] == "it") == (r["pair_id"] in first)]
    out = tmp_path / "passages.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in keep), "utf-8")
    return out


def test_translations_are_linked_and_nothing_else(tmp_path, shared_data, e5_embedder):
    passages = _belebele_subset(shared_data, tmp_path, unpaired=False)
    distractors = shared_data / "sample" / "fakes_syria_en.passages.jsonl"
    index = _ingest(tmp_path, e5_embedder, passages, distractors)
    gold: dict[str, set[str]] = defaultdict(set)
    for line in passages.read_text("utf-8").splitlines():
        row = json.loads(line)
        gold[row["pair_id"]].add(row["id"])
    truth = {frozenset(ids) for ids in gold.values()}
    linked = _linked_pairs(index)
    precision = len(linked & truth) / len(linked)
    recall = len(linked & truth) / len(truth)
    # measured on this subset: precision 1.0, recall 0.95-1.0 (bench/stories.py on all 488
    # pairs with 792 distractors: 1.0 / 0.963)
    assert precision == 1.0
    assert recall >= 0.9
    index.close()


def test_articles_without_a_translation_stay_alone(tmp_path, shared_data, e5_embedder):
    passages = _belebele_subset(shared_data, tmp_path, unpaired=True)
    index = _ingest(tmp_path, e5_embedder, passages)
    assert index.manifest.count() == 40
    assert _linked_pairs(index) == set()
    index.close()


def test_a_changed_translation_leaves_and_rejoins_its_story(tmp_path, seeds_dir, e5_embedder):
    folder = tmp_path / "seeds"
    folder.mkdir()
    for f in seeds_dir.iterdir():
        (folder / f.name).write_text(f.read_text("utf-8"), "utf-8")
    index = _ingest(tmp_path, e5_embedder, folder)
    it_file = next(folder.glob("001_*"))
    it_id = next(r.id for r in index.manifest.iter_records() if r.lang == "it")
    it_file.write_text("Ricetta della pasta al pomodoro.\n\nSi cuoce la pasta in acqua salata.")
    Ingestor(index, e5_embedder, linker=StoryLinker(threshold=0.85)).run(
        [folder], max_bytes=10_000_000
    )
    stories = {r.id: r.story_id for r in index.manifest.iter_records()}
    assert len(set(stories.values())) == 2  # the recipe is no translation of the Isis story
    assert stories[it_id] == it_id
    index.close()
