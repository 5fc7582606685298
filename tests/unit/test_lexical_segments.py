"""The segmented lexical index scores exactly as one bm25s index over the same live chunks.

The corpus is the real Belebele passages (Italian and English) in ../shared/data, queried with
their real questions; the reference is bm25s itself, which the index used before it had
segments.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.archive.lexical import MERGE_FACTOR, LexicalDoc, LexicalIndex
from rag.words import tokenize


@pytest.fixture(scope="module")
def belebele(shared_data: Path) -> tuple[list[tuple[LexicalDoc, str]], list[dict]]:
    rows = [json.loads(line) for line in (shared_data / "belebele_it_en.passages.jsonl").open()]
    items = [
        (LexicalDoc(f"{r['id']}:0", r["id"], r["lang"], 20170101 + i % 28, r["source"]), r["text"])
        for i, r in enumerate(rows)
    ]
    lines = (shared_data / "belebele_it_en.questions.jsonl").open()
    questions = [json.loads(line) for line in lines]
    return items, random.Random(3).sample(questions, 200)


def by_chunk(index: LexicalIndex, query: str, lang: str) -> dict[str, float]:
    scores = index.scores(query, lang)
    return {h.doc.chunk_id: h.score for h in index.top(scores, index.mask(), len(scores))}


def test_one_segment_scores_as_bm25s(belebele):
    import bm25s

    items, questions = belebele
    ours = LexicalIndex.build(items, generation=1)
    ref = bm25s.BM25()
    ref.index([tokenize(text, doc.lang) or [""] for doc, text in items], show_progress=False)
    # a question repeating a word counts it twice, as bm25s does
    asked = [(q["question"], q["lang"]) for q in questions] + [("Syria Syria army", "en")]
    for question, lang in asked:
        tokens = [t for t in tokenize(question, lang) if t in ref.vocab_dict]
        want = ref.get_scores(tokens) if tokens else np.zeros(len(items))
        got = ours.scores(question, lang)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6), question


def test_many_segments_with_updates_score_as_one_index_built_from_scratch(belebele):
    items, questions = belebele
    rnd = random.Random(7)
    live: dict[str, tuple[LexicalDoc, str]] = {}
    index = LexicalIndex([], generation=0)
    order = list(range(len(items)))
    rnd.shuffle(order)
    for gen, start in enumerate(range(0, len(order), 37), 1):
        batch = [items[i] for i in order[start : start + 37]]
        removed = rnd.sample(sorted(live), min(len(live), 5))  # pruned articles
        rewritten = rnd.sample(sorted(set(live) - set(removed)), min(len(live), 3))
        added = list(batch)
        for article in rewritten:  # changed: the same chunk id, another text
            doc, _ = live[article]
            added.append((doc, f"changed text about the army and article {article}"))
        for article in removed:
            del live[article]
        for doc, text in added:
            live[doc.article_id] = (doc, text)
        index = index.updated([*removed, *rewritten], LexicalIndex.segment(added), gen)
        while plan := index.merge_plan():
            index = index.merged(plan)
    scratch = LexicalIndex.build(live.values(), generation=index.generation)
    assert len(index) == len(scratch) == len(live)
    assert index.chunk_ids() == scratch.chunk_ids()
    assert len(index.segments) > 1  # the comparison is between segments and one index
    for q in questions:
        got, want = (
            by_chunk(index, q["question"], q["lang"]),
            by_chunk(scratch, q["question"], q["lang"]),
        )
        assert got.keys() == want.keys(), q["question"]
        for chunk_id, score in want.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-5)
        top_got = [
            h.doc.chunk_id
            for h in index.top(index.scores(q["question"], q["lang"]), index.mask(), 10)
        ]
        top_want = [
            h.doc.chunk_id
            for h in scratch.top(scratch.scores(q["question"], q["lang"]), scratch.mask(), 10)
        ]
        assert [round(got[c], 4) for c in top_got] == [round(want[c], 4) for c in top_want]


def test_the_merge_policy_keeps_few_segments_and_merges_each_chunk_a_few_times(belebele):
    items, _ = belebele
    index = LexicalIndex([], generation=0)
    merged_chunks = 0
    for gen in range(1, 301):  # 300 syncs of 8 chunks each
        batch = [
            (
                LexicalDoc(f"c{gen}:{i}", f"a{gen}", "en", 0, ""),
                items[(gen * 8 + i) % len(items)][1],
            )
            for i in range(8)
        ]
        index = index.updated([], LexicalIndex.segment(batch), gen)
        while plan := index.merge_plan():
            merged_chunks += sum(len(index.segments[i]) for i in plan)
            index = index.merged(plan)
    assert len(index) == 2400
    # log-structured: at most MERGE_FACTOR - 1 segments per size class, never one per sync
    assert len(index.segments) <= 3 * (MERGE_FACTOR - 1) + 1
    # each chunk is rewritten about log_4(2400 / 8) times, not once per later sync
    assert merged_chunks / len(index) <= 5


def test_dead_chunks_are_masked_and_their_words_unknown(belebele):
    items, _ = belebele
    en = [(d, t) for d, t in items if d.lang == "en"][:20]
    index = LexicalIndex.build(en, generation=1)
    extra = (LexicalDoc("x:0", "x", "en", 20200101, "wire"), "The zeppelin landed at Tessalit.")
    index = index.updated([], LexicalIndex.segment([extra]), 2)
    assert index.unknown_words("zeppelin", "en") == []
    assert index.position("x:0") is not None
    index = index.updated(["x"], None, 3)
    assert index.unknown_words("zeppelin", "en") == ["zeppelin"]
    assert index.position("x:0") is None
    scores = index.scores("zeppelin Tessalit", "en")
    assert not scores.any() and not index.mask(source="wire").any()
    assert len(index) == 20


def test_saved_and_loaded_the_next_save_writes_only_the_new_segment(tmp_path, belebele):
    items, questions = belebele
    index = LexicalIndex.build(items[:500], generation=1)
    index.save(tmp_path)
    folder = tmp_path / LexicalIndex.DIRNAME
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("seg-*")}
    index = index.updated([items[0][0].article_id], LexicalIndex.segment(items[500:520]), 2)
    index.save(tmp_path)
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("seg-*")}
    assert set(before) < set(after) and len(set(after) - set(before)) == 2  # .npz and .json
    assert all(after[name] == mtime for name, mtime in before.items())  # not rewritten
    loaded = LexicalIndex.load(tmp_path)
    assert loaded is not None and loaded.generation == 2 and len(loaded) == 519
    for q in questions[:50]:
        assert by_chunk(loaded, q["question"], q["lang"]) == by_chunk(
            index, q["question"], q["lang"]
        )


def test_what_a_crash_leaves_is_ignored_and_an_older_format_is_rebuilt(tmp_path, belebele):
    items, _ = belebele
    index = LexicalIndex.build(items[:50], generation=4)
    index.save(tmp_path)
    folder = tmp_path / LexicalIndex.DIRNAME
    (folder / "seg-cutoff.npz").write_bytes(b"half a segment")  # killed before its .json
    assert LexicalIndex.load(tmp_path).generation == 4
    index.updated([], LexicalIndex.segment(items[50:60]), 5).save(tmp_path)
    assert not (folder / "seg-cutoff.npz").exists()  # files no state names are removed

    state = json.loads((folder / LexicalIndex.STATE).read_text())
    state["segments"].append({"name": "seg-missing", "dead": []})
    (folder / LexicalIndex.STATE).write_text(json.dumps(state))
    assert LexicalIndex.load(tmp_path) is None  # the index is then built from the manifest

    old = tmp_path / "old"
    (old / LexicalIndex.DIRNAME / "bm25").mkdir(parents=True)
    (old / LexicalIndex.DIRNAME / "docs.json").write_text('{"generation": 3, "docs": []}')
    assert LexicalIndex.load(old) is None
    LexicalIndex.build(items[:5], generation=3).save(old)
    assert not (old / LexicalIndex.DIRNAME / "bm25").exists()
    assert LexicalIndex.load(old).generation == 3


def test_full_match_is_the_idf_sum_bm25s_gives(belebele):
    import bm25s

    items, questions = belebele
    index = LexicalIndex.build(items, generation=1)
    ref = bm25s.BM25()
    ref.index([tokenize(text, doc.lang) or [""] for doc, text in items], show_progress=False)
    indptr, n = ref.scores["indptr"], float(ref.scores["num_docs"])
    for q in questions[:50]:
        ids = [ref.vocab_dict[t] for t in tokenize(q["question"], q["lang"]) if t in ref.vocab_dict]
        df = np.asarray([indptr[i + 1] - indptr[i] for i in ids], dtype=np.float64)
        want = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)).sum() / (1.0 + ref.k1))
        assert index.full_match(q["question"], q["lang"]) == pytest.approx(want, rel=1e-9)
