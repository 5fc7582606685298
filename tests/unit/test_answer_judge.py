"""The answer judge: its file is checked when it loads, its training is deterministic, and the
extractive answer labels a quotation in another language where it starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.compose import judge_for
from rag.answer.extractive import ExtractiveAnswerer, _Sentence
from rag.answer.judge.features import NAMES, Asked, Candidate, features
from rag.answer.judge.model import judge_path, load_judge, read_judge
from rag.answer.judge.train import Example, eval_stories, fit, is_test, split
from rag.config import Settings
from rag.errors import ModelError
from rag.types import Passage
from tests.fakes import HashEmbedder


def _examples(seed: int, n: int = 40) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        x = rng.normal(size=(6, len(NAMES))).astype(np.float32)
        y = np.zeros(6, dtype=np.float32)
        y[int(np.argmax(x[:, 0]))] = 1.0  # the answer is the row with the largest feature 0
        xs.append(x)
        ys.append(y)
    return xs, ys


def test_training_is_deterministic_and_learns_the_signal(tmp_path: Path) -> None:
    xs, ys = _examples(1, n=300)
    a = fit(xs, ys, epochs=1000, seed=0, meta={"embedding_model": "m"})
    b = fit(xs, ys, epochs=1000, seed=0, meta={"embedding_model": "m"})
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    test_x, test_y = _examples(2)
    right = sum(
        int(np.argmax(a.logits(x))) == int(np.argmax(y))
        for x, y in zip(test_x, test_y, strict=True)
    )
    assert right >= 30  # of 40 (chance: 7): it found that feature 0 decides


def test_a_saved_judge_reads_back_the_same(tmp_path: Path) -> None:
    xs, ys = _examples(3)
    judge = fit(xs, ys, epochs=50, meta={"embedding_model": "m"})
    judge.save(tmp_path / "j.npz")
    again = read_judge(tmp_path / "j.npz")
    assert np.allclose(again.logits(xs[0]), judge.logits(xs[0]))
    assert again.model_label == "m"


def test_missing_corrupt_and_foreign_judges_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="train-judge"):
        read_judge(tmp_path / "missing.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match=r"corrupt.npz is not an answer judge.*train-judge"):
        read_judge(tmp_path / "corrupt.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ModelError, match="not an answer judge"):
        read_judge(tmp_path / "other.npz")
    xs, ys = _examples(4)
    fit(xs, ys, epochs=5, meta={"embedding_model": "another-model"}).save(tmp_path / "j.npz")
    with pytest.raises(ModelError, match="trained for the embedding model 'another-model'"):
        load_judge(tmp_path / "j.npz", "multilingual-e5-small")


def test_the_shipped_judge_loads_for_its_model_and_reads_like_its_card() -> None:
    path = judge_path("multilingual-e5-small")
    judge = load_judge(path, "multilingual-e5-small")
    card = json.loads(path.with_suffix(".card.json").read_text())
    assert card["bytes"] == path.stat().st_size
    assert judge.meta["seed"] == card["seed"] and judge.mean.shape == (len(NAMES),)


def test_a_broken_judge_leaves_the_product_answering_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "j.npz").write_bytes(b"garbage")
    embedder = HashEmbedder()
    embedder.spec = None  # type: ignore[attr-defined]
    chosen = judge_for(Settings(judge=str(tmp_path / "j.npz")), embedder)  # type: ignore[arg-type]
    assert chosen.judge is None and "not an answer judge" in (chosen.problem or "")
    assert judge_for(Settings(judge="off"), embedder).problem is None  # type: ignore[arg-type]


def test_features_read_the_asked_kind_in_the_sentence() -> None:
    embedder = HashEmbedder()
    q = "How many soldiers were killed in the ambush near Djibo?"
    asked = Asked.of(q, "en", embedder.embed_queries([q])[0])
    texts = [
        "The ambush near Djibo killed twelve soldiers, the army said.",
        "The army said the ambush happened near Djibo on Tuesday.",
    ]
    vectors = embedder.embed_documents(texts)
    x = features(
        asked,
        [Candidate(t, "en", i, v) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))],
    )
    count = NAMES.index("number_by_count")
    assert x[0, count] == 1.0 and x[1, count] == 0.0
    assert x[0, NAMES.index("lead")] == 1.0 and x[1, NAMES.index("lead")] == 0.0


def test_the_split_is_by_story_and_eval_stories_are_found(tmp_path: Path) -> None:
    assert is_test("belebele:017") == is_test("belebele:017")  # a story is always on one side
    shares = [is_test(f"story-{i}") for i in range(1000)]
    assert 150 < sum(shares) < 250  # a fifth held out
    (tmp_path / "set.jsonl").write_text(
        json.dumps({"relevant_ids": ["fakes:1", "belebele:en:004"],
                    "note": "near belebele:it:009 and 1926479289"}) + "\n"
    )  # fmt: skip
    assert eval_stories(tmp_path) == {
        "fakes:1", "belebele:en:004", "belebele:it:009", "fakes:1926479289"
    }  # fmt: skip
    sentences, positions = split(
        "Short one. This sentence has enough words in it. And so does this one here."
    )
    assert sentences[0].startswith("This sentence") and positions == [1, 2]
    assert Example("s", "x", "q", "en", sentences, positions, "en", None).label is None


def test_a_quotation_in_another_language_is_labelled_where_it_starts() -> None:
    embedder = HashEmbedder()

    def passage(aid: str, text: str, lang: str) -> Passage:
        return Passage(
            chunk_id=f"{aid}#0", article_id=aid, text=text, start=0, end=len(text),
            title="Sahel", date="2023-05-18", lang=lang, source="s", url=None, story_id=None,
            score=1.0, dense=0.9,
        )  # fmt: skip

    en = passage("a", "French troops left the Sahel region in 2022 after nine years.", "en")
    it = passage("b", "Le truppe francesi hanno lasciato il Sahel e Mopti dopo nove anni.", "it")

    class Both(ExtractiveAnswerer):  # quotes the English passage, then the Italian one
        def select(self, question, lang, passages, asked_info=None):
            return [_Sentence(i, 0, len(p.text), p.text) for i, p in enumerate(passages)]

    answer = "".join(Both(embedder).stream("Summarise the situation in the Sahel", "en", [en, it]))
    assert answer.startswith("French troops")  # not "Quoted in Italian:" before English text
    assert "[1]. Quoted in Italian: Le truppe francesi" in answer
    answer = "".join(Both(embedder).stream("Summarise the situation in the Sahel", "en", [it, en]))
    assert answer.startswith("Quoted in Italian: Le truppe") and answer.count("Quoted") == 1


def test_a_question_about_the_dead_wants_a_count_of_the_dead() -> None:
    from rag.answer.kinds import states
    from rag.mentions import PassageWords

    asked = PassageWords("How many soldiers were killed in the Djibo ambush?", "en")
    auxiliaries = "The junta has recruited tens of thousands of civilian auxiliaries."
    assert states("number", auxiliaries, "en", asked) == 0
    assert states("number", "Djibo has been under blockade for almost two years.", "en", asked) == 0
    assert states("number", "The ambush killed at least 12 soldiers.", "en", asked) == 2
    italian = PassageWords("Quanti soldati sono morti a Djibo?", "it")
    assert states("number", "Gunmen killed nineteen soldiers near Djibo.", "en", italian) == 2


def test_a_time_of_day_states_when_beside_the_articles_date() -> None:
    from rag.answer.kinds import states
    from rag.mentions import PassageWords

    asked = PassageWords("When did they attack it?", "en")
    sentence = "I combattenti del JNIM hanno attaccato all'alba la base militare di Acharan."
    assert states("time", sentence, "it", asked) == 2
    assert states("time", "I combattenti hanno attaccato la base militare.", "it", asked) == 0


def test_who_leads_wants_a_name_beside_a_word_of_leading() -> None:
    from rag.answer.kinds import states
    from rag.mentions import PassageWords

    asked = PassageWords("Who leads the group that attacked Acharan?", "en")
    named_only = "I combattenti del JNIM, legati ad al-Qaeda, hanno attaccato la base di Acharan."
    assert states("leader", named_only, "it", asked) == 0  # names the group, not its leader
    assert states("leader", "The group, led by Iyad Ag Ghaly, claimed it.", "en", asked) == 2
    assert states("leader", "Il JNIM, guidato da Iyad Ag Ghaly, ha rivendicato.", "it", asked) == 2
    # the question's own words do not part the title from the name
    ceo = PassageWords("Who is the chief executive of Aer Lingus?", "en")
    italian = "Lo ha detto l'amministratore delegato di Aer Lingus, Dermot Mannion."
    assert states("leader", italian, "it", ceo) == 2
    assert states("leader", "Aer Lingus Chief Executive Dermot Mannion said so.", "en", ceo) == 2
    assert states("leader", "Aer Lingus rival Ryanair wants to take it over.", "en", ceo) == 0
