"""Hybrid retrieval over a real embedded Chroma and the BM25 index, with the hash embedder.

The hash embedder makes texts that share words close, so these tests check the mechanics
(fusion, filters, one result per article and per story, recency) independently of a model's
quality; cross-lingual quality is measured with the real model in bench/retrieval.py and
tests/integration/test_engine.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from ingest.sync import Ingestor
from rag.archive.index import ArchiveIndex
from rag.config import Settings
from rag.retrieval import RetrievalConfig, Retriever
from rag.types import Filters
from tests.fakes import HashEmbedder


def article(id_: str, text: str, *, lang: str = "en", date: str = "2019-05-01",
            source: str = "wire", title: str = "") -> dict:  # fmt: skip
    return {"id": id_, "title": title or id_, "text": text, "lang": lang, "date": date,
            "source": source}  # fmt: skip


ARTICLES = [
    article(
        "deir",
        "Islamic State cells still attack the army near Deir Ezzor in the desert. " * 6,
        date="2021-03-02",
    ),
    article(
        "deir-it",
        "Le cellule dello Stato Islamico attaccano ancora l'esercito vicino a "
        "Deir Ezzor nel deserto. " * 6,
        lang="it",
        date="2021-03-02",
    ),
    article(
        "mali",
        "Jihadists of JNIM attacked the army base of Acharan in the Mopti region. "
        "The attack killed soldiers at the base of Acharan.",
        source="agency",
        date="2017-04-05",
    ),
    article(
        "iraq",
        "Iraqi forces retook Mosul from the Islamic State after months of war.",
        date="2017-07-10",
    ),
    article(
        "sahel-old",
        "French troops patrol the Sahel border with Niger against jihadists.",
        date="2015-01-10",
    ),
    article(
        "sahel-new",
        "French troops patrol the Sahel border with Niger against jihadists.",
        date="2022-06-10",
    ),
    article(
        "weather",
        "Rain and snow are expected in the north of the country tomorrow.",
        date="2023-01-01",
    ),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrieval")
    source = folder / "articles.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), "utf-8")
    embedder = HashEmbedder(dim=256)
    idx = ArchiveIndex.open(
        Settings(index_dir=folder / "index"), model_label=embedder.label, dim=embedder.dim
    )
    Ingestor(idx, embedder, chunk_tokens=40, chunk_overlap=8).run([source], max_bytes=10**6)
    idx.manifest.set_story(["deir", "deir-it"], "story-deir")  # a translation pair
    yield idx, embedder
    idx.close()


def retriever(index, **config) -> Retriever:
    idx, embedder = index
    return Retriever(idx, embedder, RetrievalConfig(**config))


def ids(passages) -> list[str]:
    return [p.article_id for p in passages]


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "dense"])
def test_each_article_appears_once_with_its_best_chunk(index, fusion):
    hits = retriever(index, fusion=fusion).search("Islamic State attack army Deir Ezzor", lang="en")
    assert len(ids(hits)) == len(set(ids(hits)))
    assert hits[0].article_id == "deir"
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    # the passage is the stored span of the article, as a citation will show it
    record = index[0].manifest.get("deir")
    assert record.text[hits[0].start : hits[0].end] == hits[0].text


def test_a_story_is_shown_once_through_the_version_that_matched_best(index):
    r = retriever(index)
    english = r.search("Islamic State cells Deir Ezzor desert", lang="en", k=10)
    assert "deir" in ids(english) and "deir-it" not in ids(english)
    assert english[ids(english).index("deir")].also_in == ("it",)
    # the question's language does not pick the version: the passage that matched does
    italian = r.search("cellule dello Stato Islamico nel deserto di Deir Ezzor", lang="it", k=10)
    assert "deir-it" in ids(italian) and "deir" not in ids(italian)
    assert italian[ids(italian).index("deir-it")].also_in == ("en",)
    same = r.search("Islamic State cells Deir Ezzor desert", lang="it", k=10)
    assert [i for i in ids(same) if i.startswith("deir")] == ["deir"]


def test_a_language_filter_shows_the_version_in_that_language(index):
    hits = retriever(index).search(
        "Islamic State cells Deir Ezzor desert", lang="en", filters=Filters(lang="it")
    )
    assert hits and all(h.lang == "it" for h in hits)
    assert hits[0].article_id == "deir-it"


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "dense", "lexical"])
def test_source_and_date_filters_hold_in_every_fusion(index, fusion):
    r = retriever(index, fusion=fusion)
    by_source = r.search("army attack base", lang="en", filters=Filters(source="agency"))
    assert ids(by_source) == ["mali"]
    dated = r.search("jihadists army troops Islamic State", lang="en", k=10,
                     filters=Filters(date_from="2017-01-01", date_to="2017-12-31"))  # fmt: skip
    assert dated and all("2017-01-01" <= h.date <= "2017-12-31" for h in dated)
    assert set(ids(dated)) <= {"mali", "iraq"}


def test_a_filter_that_excludes_everything_returns_nothing(index):
    hits = retriever(index).search("army", lang="en", filters=Filters(source="nobody"))
    assert hits == []


def test_a_rare_name_is_found_by_the_lexical_side(index):
    hits = retriever(index, fusion="lexical").search("Acharan", lang="en", k=3)
    assert hits[0].article_id == "mali" and hits[0].lexical > 0
    hybrid = retriever(index).search("where is Acharan", lang="en", k=3)
    assert hybrid[0].article_id == "mali"
    assert hybrid[0].score == pytest.approx(hybrid[0].dense + 0.05 * 1.0)  # best BM25 -> +w


def test_rrf_and_weighted_fusion_score_differently(index):
    query = "French troops Sahel Niger jihadists"
    weighted = retriever(index).search(query, lang="en", k=3)
    rrf = retriever(index, fusion="rrf").search(query, lang="en", k=3)
    assert {weighted[0].article_id, rrf[0].article_id} <= {"sahel-old", "sahel-new"}
    assert rrf[0].score < 1 / 30  # reciprocal ranks, not cosines
    assert weighted[0].score > 0.5


def test_questions_about_the_present_prefer_the_newer_of_equal_articles(index):
    r = retriever(index)
    query = "French troops patrol the Sahel border with Niger"
    now = r.search(query, lang="en", k=2, recency=True)
    assert ids(now) == ["sahel-new", "sahel-old"]
    assert now[0].score > now[1].score
    # a recent but unrelated article is not pulled above relevant old ones
    assert "weather" not in ids(r.search(query, lang="en", k=3, recency=True))[:2]


def test_k_must_be_positive(index):
    with pytest.raises(ValueError, match="k must be at least 1"):
        retriever(index).search("army", lang="en", k=0)


def test_results_follow_an_update_of_the_archive(tmp_path):
    embedder = HashEmbedder(dim=128)
    idx = ArchiveIndex.open(
        Settings(index_dir=tmp_path / "index"), model_label=embedder.label, dim=embedder.dim
    )
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps(article("x", "The convoy crossed the river at dawn.")) + "\n")
    ingestor = Ingestor(idx, embedder, chunk_tokens=40, chunk_overlap=8)
    ingestor.run([source], max_bytes=10**6)
    r = Retriever(idx, embedder, RetrievalConfig(fusion="lexical"))
    assert ids(r.search("convoy river", lang="en")) == ["x"]
    source.write_text(json.dumps(article("x", "Drones struck the airport of Kabul.")) + "\n")
    ingestor.run([source], max_bytes=10**6)
    assert r.search("convoy river", lang="en") == []
    assert ids(r.search("drones airport Kabul", lang="en")) == ["x"]
    Path(source).unlink()
    ingestor.run([tmp_path], max_bytes=10**6, prune=True)
    assert r.search("drones airport Kabul", lang="en") == []
    idx.close()


def _pairs(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append(article(f"p{i:02d}-en", f"Report {i} on the convoy number {i} at the border."))
        out.append(article(f"p{i:02d}-it", f"Rapporto {i} sul convoglio numero {i} al confine.",
                           lang="it"))  # fmt: skip
    return out


def test_language_centroids_come_from_translated_stories_and_follow_ingest(tmp_path):
    from rag.archive.index import MIN_TRANSLATED_STORIES

    embedder = HashEmbedder(dim=64)
    idx = ArchiveIndex.open(
        Settings(index_dir=tmp_path / "index"), model_label=embedder.label, dim=embedder.dim
    )
    source = tmp_path / "pairs.jsonl"
    pairs = _pairs(MIN_TRANSLATED_STORIES)
    source.write_text("".join(json.dumps(a) + "\n" for a in pairs), "utf-8")
    ingestor = Ingestor(idx, embedder, chunk_tokens=40, chunk_overlap=8)
    ingestor.run([source], max_bytes=10**6)
    assert idx.language_centroids() == {}  # nothing is linked: no language direction

    for i in range(MIN_TRANSLATED_STORIES - 1):
        idx.manifest.set_story([f"p{i:02d}-en", f"p{i:02d}-it"], f"p{i:02d}-en")
    assert idx.language_centroids() == {}  # computed at the last ingest, kept until the next
    idx.update_language_centroids()
    assert idx.language_centroids() == {}  # one story short of the minimum

    last = MIN_TRANSLATED_STORIES - 1
    idx.manifest.set_story([f"p{last:02d}-en", f"p{last:02d}-it"], f"p{last:02d}-en")
    ingestor.run([source], max_bytes=10**6)  # nothing changed, but the links did
    centroids = idx.language_centroids()
    assert sorted(centroids) == ["en", "it"]
    for lang in ("en", "it"):
        ids_ = [a["id"] for a in pairs if a["lang"] == lang]
        vectors = idx.store.article_vectors(ids_)
        expected = np.mean([vectors[i] for i in ids_], axis=0)
        assert np.allclose(centroids[lang], expected, atol=1e-5)
    idx.close()


NEAR_IT = "Il convoglio Deir Ezzor border convoy attraversa il confine."
FAR_IT = "Pioggia e neve sono attese domani nel nord del paese."


def _near_and_far(tmp_path):
    """An index of two Italian articles, one near an English convoy question and one far."""
    embedder = HashEmbedder(dim=256)
    idx = ArchiveIndex.open(
        Settings(index_dir=tmp_path / "index"), model_label=embedder.label, dim=embedder.dim
    )
    source = tmp_path / "it.jsonl"
    rows = [article("near", NEAR_IT, lang="it"), article("far", FAR_IT, lang="it")]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    Ingestor(idx, embedder, chunk_tokens=40, chunk_overlap=8).run([source], max_bytes=10**6)
    return embedder, idx, FAR_IT


def test_other_languages_are_ranked_with_the_question_moved_into_them(tmp_path, monkeypatch):
    embedder, idx, far = _near_and_far(tmp_path)
    query = "convoy at the border of Deir Ezzor"
    qvec = embedder.embed_queries([query])[0]
    # a language direction pointing at the far article's words: moving the question along it
    # must change the Italian ranking
    direction = 3 * embedder.embed_documents([far])[0]
    centroids = {"en": np.zeros(embedder.dim, np.float32), "it": direction}
    monkeypatch.setattr(idx, "language_centroids", lambda: centroids)

    def search(shift: float):
        r = Retriever(idx, embedder, RetrievalConfig(language_shift=shift, fusion="dense"))
        return r.search(query, lang="en", k=2, filters=Filters(lang="it"))

    plain, moved = search(0.0), search(0.5)
    assert ids(plain) == ["near", "far"]
    assert ids(moved) == ["far", "near"]
    for hits in (plain, moved):  # both report the cosine to the question itself
        vectors = idx.store.vectors([h.chunk_id for h in hits])
        assert [h.dense for h in hits] == pytest.approx(list(vectors @ qvec), abs=1e-4)
    idx.close()


def test_an_archive_without_translations_moves_questions_along_the_models_direction(tmp_path):
    embedder, idx, far = _near_and_far(tmp_path)
    assert idx.language_centroids() == {}  # no translated story: the archive has no direction
    shipped = {
        "en": np.zeros(embedder.dim, np.float32),
        "it": 3 * embedder.embed_documents([far])[0],
    }
    config = RetrievalConfig(language_shift=0.5, fusion="dense")
    query = "convoy at the border of Deir Ezzor"
    without = Retriever(idx, embedder, config).search(query, lang="en", k=2)
    with_model = Retriever(idx, embedder, config, model_centroids=shipped).search(
        query, lang="en", k=2
    )
    assert ids(without) == ["near", "far"]
    assert ids(with_model) == ["far", "near"]  # the model's direction was used
    idx.close()


def test_the_default_model_ships_its_italian_english_direction():
    from rag.models import DEFAULT_MODEL, get_spec, language_centroids

    centroids = language_centroids(DEFAULT_MODEL)
    assert set(centroids) == {"it", "en"}
    assert {v.shape for v in centroids.values()} == {(get_spec(DEFAULT_MODEL).dim,)}
    # translations differ by language, not topic: the direction is short next to the centroids
    gap = float(np.linalg.norm(centroids["it"] - centroids["en"]))
    assert 0.05 < gap < 0.5 * float(np.linalg.norm(centroids["en"]))
    assert language_centroids("no-such-model") == {}
