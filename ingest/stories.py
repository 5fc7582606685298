"""Link articles that are translations of each other under one ``story_id``.

An article's vector is the normalised mean of its chunk vectors (multilingual, so a
translation lands next to its original). Two articles in different languages are linked when
each is the other's nearest neighbour in that language, their similarity clears a calibrated
threshold, their publication dates (when both are known) are close, and their lengths are
comparable. A story holds at most one article per language. Its id is the id of the article
that was in the index first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.archive.manifest import ArticleRecord, Manifest
from rag.archive.store import Neighbour, VectorStore

log = logging.getLogger(__name__)


def article_vector(chunk_vectors: np.ndarray, chunk_lengths: Sequence[int]) -> np.ndarray:
    weights = np.asarray(chunk_lengths, dtype=np.float32)[:, None]
    mean = (chunk_vectors * weights).sum(axis=0) / max(float(weights.sum()), 1.0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class StoryLinker:
    threshold: float = 0.85  # multilingual-e5-small, calibrated with bench/stories.py
    max_days: int = 7
    min_length_ratio: float = 0.5

    def compatible(self, a: dict, b: dict) -> bool:
        if a.get("date") and b.get("date"):
            gap = abs((date.fromisoformat(a["date"]) - date.fromisoformat(b["date"])).days)
            if gap > self.max_days:
                return False
        la, lb = a.get("chars", 0), b.get("chars", 0)
        return not (la and lb and min(la, lb) / max(la, lb) < self.min_length_ratio)

    def link(self, store: VectorStore, manifest: Manifest, ids: Sequence[str]) -> int:
        """Find partners for freshly written articles; returns how many stories gained one."""
        vectors = store.article_vectors(ids)
        records = manifest.get_many(ids)
        nearest = self._nearest(store, records, vectors)
        linked: set[str] = set()
        alone: list[str] = []
        for article_id in sorted(ids):
            record = records.get(article_id)
            if record is None or article_id not in vectors:
                continue
            self._detach(manifest, article_id, record.story_id)
            me = {"date": record.date, "chars": len(record.text)}
            partner = self._partner(
                store, manifest, article_id, record.lang, me, nearest.get(article_id, [])
            )
            if partner is None:
                alone.append(article_id)
                continue
            story = manifest.get(partner)
            story_id = (story.story_id if story else None) or partner
            manifest.set_story([partner, article_id], story_id)
            linked.add(story_id)
        # a story of their own; an article linked to one of them later in this loop was given
        # that same id, so the write is always right
        manifest.set_stories((a, a) for a in alone)
        return len(linked)

    def _nearest(
        self,
        store: VectorStore,
        records: dict[str, ArticleRecord],
        vectors: dict[str, np.ndarray],
    ) -> dict[str, list[Neighbour]]:
        """Each article's nearest articles in other languages: one query per language."""
        by_lang: dict[str, list[str]] = {}
        for article_id, record in records.items():
            if article_id in vectors:
                by_lang.setdefault(record.lang, []).append(article_id)
        out: dict[str, list[Neighbour]] = {}
        for lang, ids in by_lang.items():
            found = store.nearest_articles_many(
                np.stack([vectors[i] for i in ids]), 3, where={"lang": {"$ne": lang}}
            )
            out.update(zip(ids, found, strict=True))
        return out

    def _partner(
        self,
        store: VectorStore,
        manifest: Manifest,
        article_id: str,
        lang: str,
        me: dict,
        nearest: Sequence[Neighbour],
    ) -> str | None:
        for cand in nearest:
            if cand.score < self.threshold:
                return None
            other_lang = str(cand.metadata.get("lang", ""))
            if not self.compatible(me, cand.metadata):
                continue
            # mutual: am I the candidate's nearest article in my language?
            back = store.nearest_articles(
                store.article_vectors([cand.id])[cand.id], 1, where={"lang": lang}
            )
            if not back or back[0].id != article_id:
                continue
            # one article per language and story
            cand_story = manifest.get(cand.id)
            members = (
                manifest.story_members(cand_story.story_id)
                if cand_story and cand_story.story_id
                else []
            )
            taken = [
                m
                for m in members
                if m not in (article_id, cand.id) and (r := manifest.get(m)) and r.lang == lang
            ]
            if taken:
                continue
            log.debug(
                "story link %s (%s) <-> %s (%s) %.3f",
                article_id,
                lang,
                cand.id,
                other_lang,
                cand.score,
            )
            return cand.id
        return None

    @staticmethod
    def _detach(manifest: Manifest, article_id: str, story_id: str | None) -> None:
        """A changed article leaves its story; the others keep theirs under a valid id."""
        if not story_id:
            return
        others = [m for m in manifest.story_members(story_id) if m != article_id]
        if story_id == article_id and others:
            manifest.set_story(others, others[0])
        manifest.set_story([article_id], article_id)


def relabel_after_delete(manifest: Manifest, deleted_story_ids: dict[str, str | None]) -> None:
    """Stories named after a deleted article get a remaining member's id."""
    for article_id, story_id in deleted_story_ids.items():
        if story_id == article_id:
            rest = manifest.story_members(story_id)
            if rest:
                manifest.set_story(rest, rest[0])
