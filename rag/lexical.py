"""BM25 over the chunks (bm25s), with Italian and English stemming and stop words.

Each chunk is tokenised in its own language (Snowball stemmer + stop words); a query in the
language it is written in. Names (Deir Ezzor, JNIM, Acharan) stem alike in both languages,
so they still match across them. The index is rebuilt from the manifest after every ingest
that changed something and saved beside the vector store; it remembers the manifest
generation it was built from, so a stale index is noticed and rebuilt.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STEMMERS = {"it": "italian", "en": "english", "fr": "french", "de": "german", "es": "spanish",
             "pt": "portuguese", "nl": "dutch", "ru": "russian", "tr": "turkish"}  # fmt: skip


@lru_cache(maxsize=16)
def _stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(_STEMMERS.get(lang, "english"))


@lru_cache(maxsize=16)
def _stopwords(lang: str) -> frozenset[str]:
    from bm25s import stopwords as sw

    table = {"it": sw.STOPWORDS_ITALIAN, "en": sw.STOPWORDS_EN, "fr": sw.STOPWORDS_FRENCH,
             "de": sw.STOPWORDS_GERMAN, "es": sw.STOPWORDS_SPANISH,
             "pt": sw.STOPWORDS_PORTUGUESE, "nl": sw.STOPWORDS_DUTCH,
             "ru": sw.STOPWORDS_RUSSIAN, "tr": sw.STOPWORDS_TURKISH}  # fmt: skip
    return frozenset(table.get(lang, sw.STOPWORDS_EN))


def tokenize(text: str, lang: str) -> list[str]:
    """Lower-case word tokens without stop words, stemmed in ``lang``."""
    stop = _stopwords(lang)
    words = [
        w for w in _TOKEN.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())
    ]
    return list(_stemmer(lang).stemWords(words))


# Words of a question's wording, not of its subject: never "unknown" (see unknown_words). The
# English stop list above is short (Lucene's 33 words), so an English question to an archive
# written only in Italian would otherwise "not know" words like "where" or "did".
# fmt: off
QUESTION_WORDS = {
    "en": frozenset((
        "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many",
        "much", "did", "does", "do", "done", "doing", "has", "have", "had", "having", "was",
        "were", "been", "being", "can", "could", "would", "should", "shall", "may", "might",
        "must", "i", "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she",
        "her", "its", "them", "those", "am", "about", "from", "than", "so", "any", "some",
        "latest", "still", "today", "now", "ago", "tell", "know",
    )),
    "it": frozenset((
        "cosa", "cos", "qual", "quando", "perché", "perche", "chi", "dove", "come",
        "quanti", "quante", "quale", "quali", "oggi", "ancora", "ultime", "ultimi", "ultima",
        "ultimo", "adesso", "ora", "dimmi", "sai",
    )),
}
# fmt: on


@dataclass(frozen=True)
class LexicalDoc:
    """What the lexical index keeps per chunk, to filter without asking the vector store."""

    chunk_id: str
    article_id: str
    lang: str
    date_num: int  # 0 when unknown
    source: str


@dataclass(frozen=True)
class LexicalHit:
    doc: LexicalDoc
    score: float


class LexicalIndex:
    DIRNAME = "lexical"

    def __init__(self, bm25: Any, docs: list[LexicalDoc], generation: int) -> None:
        self._bm25 = bm25
        self.docs = docs
        self.generation = generation
        self._lang = np.array([d.lang for d in docs])
        self._date = np.array([d.date_num for d in docs], dtype=np.int64)
        self._source = np.array([d.source for d in docs])
        self._langs = frozenset(d.lang for d in docs)
        self._position = {d.chunk_id: i for i, d in enumerate(docs)}

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def build(cls, items: Iterable[tuple[LexicalDoc, str]], generation: int) -> LexicalIndex:
        import bm25s

        docs: list[LexicalDoc] = []
        corpus: list[list[str]] = []
        for doc, text in items:
            docs.append(doc)
            corpus.append(tokenize(text, doc.lang) or [""])
        bm25 = bm25s.BM25()
        if corpus:
            bm25.index(corpus, show_progress=False)
        return cls(bm25, docs, generation)

    def scores(self, query: str, lang: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is indexed)."""
        if not self.docs:
            return np.zeros(0, dtype=np.float32)
        tokens = [t for t in tokenize(query, lang) if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self.docs), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def full_match(self, query: str, lang: str) -> float:
        """The BM25 score of a chunk of average length holding each of the query's indexed words
        once: the unit in which retrieval weighs lexical evidence (a passage in another language
        that shares one name with the question gets a small share of it, not the whole)."""
        if not self.docs:
            return 0.0
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in tokenize(query, lang) if t in vocab]
        if not ids:
            return 0.0
        indptr = self._bm25.scores["indptr"]
        n = float(self._bm25.scores["num_docs"])
        df = np.asarray([indptr[i + 1] - indptr[i] for i in ids], dtype=np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))  # bm25s' "lucene" idf
        return float(idf.sum() / (1.0 + self._bm25.k1))

    def unknown_words(self, query: str, lang: str) -> list[str]:
        """The question's words (not stop words) that no indexed chunk contains, in any language.

        A word counts as known when its stem in any of the archive's languages is indexed, so a
        name spelt alike in Italian and English ("Houthi", "Raqqa") is known either way. Words
        the archive never uses are a sign that it cannot answer (see Engine.support).
        """
        if not self.docs:
            return []
        vocab = self._bm25.vocab_dict
        langs = sorted(self._langs | {lang})
        stop = _stopwords(lang) | QUESTION_WORDS.get(lang, frozenset())
        found = _TOKEN.findall(query.lower())
        words = dict.fromkeys(w for w in found if w not in stop and (len(w) > 1 or w.isdigit()))
        stemmers = [_stemmer(x) for x in langs]

        def known(word: str) -> bool:
            # stemmed in each language, and stemmed again: "Houthis" -> "houthi" (English) ->
            # "houth", the Italian stem of "Houthi"
            forms = {word, *(st.stemWord(word) for st in stemmers)}
            return any(st.stemWord(f) in vocab for st in stemmers for f in forms)

        return [w for w in words if not known(w)]

    def mask(
        self,
        *,
        langs: Sequence[str] | None = None,
        date_from: int | None = None,
        date_to: int | None = None,
        source: str | None = None,
    ) -> np.ndarray:
        keep = np.ones(len(self.docs), dtype=bool)
        if langs:
            keep &= np.isin(self._lang, list(langs))
        if date_from is not None:
            keep &= self._date >= date_from
        if date_to is not None:
            keep &= (self._date <= date_to) & (self._date > 0)
        if source:
            keep &= self._source == source
        return keep

    def top(self, scores: np.ndarray, mask: np.ndarray, k: int) -> list[LexicalHit]:
        masked = np.where(mask, scores, 0.0)
        if not len(masked):
            return []
        best = np.argpartition(-masked, min(k, len(masked) - 1))[:k]
        ranked = sorted(best.tolist(), key=lambda i: -masked[i])
        return [LexicalHit(self.docs[i], float(masked[i])) for i in ranked if masked[i] > 0]

    def position(self, chunk_id: str) -> int | None:
        return self._position.get(chunk_id)

    # --- persistence ----------------------------------------------------------------------
    def save(self, index_dir: Path) -> None:
        target = index_dir / self.DIRNAME
        tmp = index_dir / (self.DIRNAME + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.docs:
            self._bm25.save(str(tmp / "bm25"))
        meta = {"generation": self.generation, "docs": [d.__dict__ for d in self.docs]}
        (tmp / "docs.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        import bm25s

        folder = index_dir / cls.DIRNAME
        meta_path = folder / "docs.json"
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text("utf-8"))
        docs = [LexicalDoc(**d) for d in meta["docs"]]
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if docs else bm25s.BM25()
        return cls(bm25, docs, int(meta["generation"]))
