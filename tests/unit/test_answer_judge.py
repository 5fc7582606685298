"""The answer judge: its files are checked when they load, its training is repeatable, its
onnx export reads as torch does, and the extractive answer labels a quotation in another
language where it starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.compose import judge_for
from provision.onnx_export import export_judge
from rag.answer.extractive import ExtractiveAnswerer, _Sentence
from rag.answer.judge.model import (
    FORMAT,
    META_FILE,
    ONNX_FILE,
    load_judge,
    pair_ids,
    read_weights,
    weights_path,
)
from rag.answer.judge.train import (
    FROZEN,
    Example,
    Pairs,
    cross_encoder,
    eval_stories,
    fit,
    is_test,
    split,
    trained_weights,
)
from rag.answer.kinds import NEXT_TO_ASKED, names_in, states
from rag.config import Settings
from rag.errors import ModelError
from rag.mentions import PassageWords
from rag.question import analyse, wants
from rag.types import Passage
from tests.conftest import MODELS_DIR
from tests.fakes import HashEmbedder

E5 = MODELS_DIR / "multilingual-e5-small"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A tiny XLM-RoBERTa (8 layers, 32-d) with e5's tokenizer: the judge's plumbing, fast."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    if not (E5 / "tokenizer.json").exists():
        pytest.fail(f"{E5} is not installed: run `make setup`")
    folder = tmp_path_factory.mktemp("tiny-judge")
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=250037, hidden_size=32, num_hidden_layers=FROZEN + 2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514,
    )  # fmt: skip
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(folder)
    shutil.copy(E5 / "tokenizer.json", folder / "tokenizer.json")
    return folder


def _examples() -> list[Example]:
    out = []
    for n in range(12):
        sentences = [f"The convoy number {n} reached the town of Gao.",
                     f"Twelve soldiers were killed in attack {n}, the army said.",
                     "The weather was hot and the market stayed open."]  # fmt: skip
        label = None if n % 4 == 3 else 1
        out.append(Example(f"s{n}", "fakes", f"How many died in attack {n}?", "en", sentences,
                           [0, 1, 2], "en", label))  # fmt: skip
    return out


def _weights(folder: Path, path: Path, label: str = "tiny") -> Path:
    model = fit(cross_encoder(folder), Pairs(folder), _examples(), per_step=4)
    meta = {"format": FORMAT, "embedding_model": label, "max_tokens": 96,
            "query_prompt": "query: ", "passage_prompt": "passage: "}  # fmt: skip
    with path.open("wb") as f:
        np.savez_compressed(f, **trained_weights(model), meta=np.array(json.dumps(meta)))
    return path


def test_pairs_are_read_as_xlm_roberta_pairs_them() -> None:
    assert pair_ids([5, 6], [7, 8, 9], 96) == [0, 5, 6, 2, 2, 7, 8, 9, 2]
    long = pair_ids(list(range(10, 80)), list(range(100, 300)), 96)
    assert len(long) == 96 and long[-1] == 2  # the sentence is cut, the question kept


def test_training_is_repeatable_and_keeps_the_lower_layers(tiny_folder: Path) -> None:
    a = trained_weights(fit(cross_encoder(tiny_folder), Pairs(tiny_folder), _examples()))
    b = trained_weights(fit(cross_encoder(tiny_folder), Pairs(tiny_folder), _examples()))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert "head.weight" in a and not any(k.startswith("encoder.embeddings") for k in a)
    assert not any(k.startswith(f"encoder.encoder.layer.{i}.") for k in a for i in range(FROZEN))
    assert np.abs(a["head.weight"]).sum() > 0  # it started at zero: training moved it


def test_the_onnx_judge_reads_as_torch_does(tiny_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    weights = _weights(folder, tmp_path / "w.npz")
    installed = export_judge(folder, weights)
    assert installed["max_diff_fp32"] <= 1e-3 and installed["max_diff_int8"] <= 0.15
    assert (folder / ONNX_FILE).is_file() and not list(folder.glob(".*fp32"))
    judge = load_judge(folder, "tiny")
    shares, none = judge.weigh("How many died?", ["Twelve died.", "It rained in Gao today."])
    assert shares.shape == (2,) and abs(float(shares.sum()) + none - 1.0) < 1e-5
    with pytest.raises(ModelError, match="trained for the embedding model 'tiny'"):
        load_judge(folder, "multilingual-e5-small")


def test_weights_for_another_model_are_not_installed_and_say_what_to_do(
    tiny_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    meta = {"format": FORMAT, "embedding_model": "tiny", "max_tokens": 96}
    np.savez(tmp_path / "w.npz", **{"head.weight": np.zeros((1, 32), np.float16),
             "encoder.encoder.layer.99.output.dense.bias": np.zeros(32, np.float16)},
             meta=np.array(json.dumps(meta)))  # fmt: skip
    with pytest.raises(ModelError, match=r"layer\.99.*train-judge"):
        export_judge(folder, tmp_path / "w.npz")
    assert not (folder / ONNX_FILE).exists() and not (folder / META_FILE).exists()


def test_setup_installs_a_newer_shipped_judge_into_an_existing_install(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    from types import SimpleNamespace

    from provision import install

    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    (folder / "model.onnx").write_bytes(b"the embedder's export")
    weights = _weights(folder, tmp_path / "w.npz")
    monkeypatch.setattr(install, "weights_path", lambda name: weights)
    said: list[str] = []
    spec = SimpleNamespace(name="tiny")
    install.refresh_judge(folder, spec, said.append)  # type: ignore[arg-type]
    assert (folder / META_FILE).is_file() and len(said) == 1
    install.refresh_judge(folder, spec, said.append)  # type: ignore[arg-type]
    assert len(said) == 1  # up to date: nothing done
    later = (folder / META_FILE).stat().st_mtime + 10
    os.utime(weights, (later, later))  # a retrained judge is shipped
    install.refresh_judge(folder, spec, said.append)  # type: ignore[arg-type]
    assert len(said) == 2 and load_judge(folder, "tiny").model_label == "tiny"


def test_missing_corrupt_and_foreign_judges_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="train-judge"):
        read_weights(tmp_path / "missing.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match=r"corrupt.npz is not an answer judge.*train-judge"):
        read_weights(tmp_path / "corrupt.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3), meta=np.array("{}"))
    with pytest.raises(ModelError, match="is not a newsrag-judge/2 file"):
        read_weights(tmp_path / "other.npz")
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ModelError, match="models install model --force"):
        load_judge(folder, "m")
    (folder / ONNX_FILE).write_bytes(b"garbage")
    (folder / META_FILE).write_text(json.dumps({"format": FORMAT, "embedding_model": "m"}))
    with pytest.raises(ModelError, match=r"Could not load .*judge.onnx.*--force"):
        load_judge(folder, "m")


def test_the_shipped_weights_read_like_their_card() -> None:
    path = weights_path("multilingual-e5-small")
    arrays, meta = read_weights(path)
    card = json.loads(path.with_suffix(".card.json").read_text())
    assert card["bytes"] == path.stat().st_size and meta["seed"] == card["seed"]
    assert meta["embedding_model"] == "multilingual-e5-small" and "head.weight" in arrays
    assert path.stat().st_size < 40_000_000  # shipped in the repository: tens of MB at most


def test_the_installed_judge_finds_the_sentence_that_answers() -> None:
    judge = load_judge(E5, "multilingual-e5-small")  # installed by `make setup`
    q = "How many soldiers were killed in the ambush near Djibo?"
    texts = ["The army said the ambush happened near Djibo on Tuesday.",
             "The ambush near Djibo killed twelve soldiers, the army said."]  # fmt: skip
    shares, _ = judge.weigh(q, texts)
    assert shares[1] > shares[0]
    shares, _ = judge.weigh("Quanti soldati sono stati uccisi vicino a Djibo?", texts)
    assert shares[1] > shares[0]  # an Italian question against English sentences


def test_a_broken_judge_leaves_the_product_answering_and_says_why(tmp_path: Path) -> None:
    (tmp_path / ONNX_FILE).write_bytes(b"garbage")
    (tmp_path / META_FILE).write_text("{not json")
    embedder = HashEmbedder()
    embedder.spec = None  # type: ignore[attr-defined]
    chosen = judge_for(Settings(judge=str(tmp_path)), embedder)  # type: ignore[arg-type]
    assert chosen.judge is None and "is not readable" in (chosen.problem or "")
    assert judge_for(Settings(judge="off"), embedder).problem is None  # type: ignore[arg-type]


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
    asked = PassageWords("How many soldiers were killed in the Djibo ambush?", "en")
    auxiliaries = "The junta has recruited tens of thousands of civilian auxiliaries."
    assert states("number", auxiliaries, "en", asked) == 0
    assert states("number", "Djibo has been under blockade for almost two years.", "en", asked) == 0
    assert states("number", "The ambush killed at least 12 soldiers.", "en", asked) == 2
    italian = PassageWords("Quanti soldati sono morti a Djibo?", "it")
    assert states("number", "Gunmen killed nineteen soldiers near Djibo.", "en", italian) == 2


def test_a_question_about_age_wants_years_of_age() -> None:
    for question, lang in [
        ("Quanti anni aveva?", "it"),
        ("Che età aveva il pilota?", "it"),
        ("How old was the pilot?", "en"),
    ]:
        asked = PassageWords(question, lang)
        assert wants(question) == "number"
        assert states("number", "The pilot, aged 26, died in the crash.", "en", asked) == 2
        assert states("number", "Il pilota, di 26 anni, è morto nello schianto.", "it", asked) == 2
        assert states("number", "A 26-year-old pilot died.", "en", asked) == 2
        # a count that is not an age does not say how old
        assert states("number", "At least 18 men were beheaded.", "en", asked) == 0


def test_a_question_of_how_long_wants_a_count_of_time() -> None:
    for question, lang in [
        ("Qual è la durata del contratto firmato da AirTanker?", "it"),
        ("Quanto tempo ha l'Aeronautica per rispondere al GAO?", "it"),
        ("How long did Henderson expect the bankruptcy to last?", "en"),
        ("Per quanti anni Israele chiede una presenza militare?", "it"),
    ]:
        asked = PassageWords(question, lang)
        assert wants(question) == "number"
        assert states("number", "AirTanker signed a 27-year deal.", "en", asked) == 2
        assert states("number", "The Air Force has 60 days to respond.", "en", asked) == 2
        assert states("number", "Il processo durerà da 60 a 90 giorni.", "it", asked) == 2
        # a sum or a date is no span of time
        assert states("number", "The GAO called for a re-run of the $ 40 billion deal.", "en",
                      asked) == 0  # fmt: skip
        assert states("number", "Il contratto vale 13 miliardi di sterline.", "it", asked) == 0
    # "Quanti anni aveva?" still asks an age, "How long is the border?" a length
    age = PassageWords("Quanti anni aveva il pilota?", "it")
    assert states("number", "The Air Force has 60 days to respond.", "en", age) == 0
    assert states("number", "Il confine è lungo 1.300 km.", "it",
                  PassageWords("How long is the border?", "en")) == 2  # fmt: skip


def test_a_question_of_money_wants_an_amount_of_money() -> None:
    for question, lang in [
        ("How much did Aeroflot pay for its 22 Dreamliners?", "en"),
        ("Quanto ha pagato Fiat per la sua quota in Chrysler?", "it"),
        ("Quanto è costato il nuovo terminal?", "it"),
        ("What is the value of the contract?", "en"),
    ]:
        asked = PassageWords(question, lang)
        assert states("number", "Aeroflot bought 22 new Boeing 787s.", "en", asked) == 0
        assert states("number", "Fiat acquisterà il sei per cento di Chrysler.", "it", asked) == 0
        assert states("number", "The deal is worth US$ 3.5 billion.", "en", asked) == 2
        assert states("number", "Il governo fornirà 52,5 milioni di dollari.", "it", asked) == 2
        assert states("number", "Each one costs €150m.", "en", asked) == 2
    # a count asked with "how much" but not of money, or of things an aid pays for
    for question in ["By how much did sales fall?", "How many jobs will the aid create?"]:
        asked = PassageWords(question, "en")
        said = "Sales fell 12 percent and 273 jobs were created."
        assert states("number", said, "en", asked) >= 2


def test_how_many_is_not_answered_by_a_percentage() -> None:
    asked = PassageWords("How many people live in Greenland?", "en")
    assert states("number", "Greenland has 93% of the population online.", "en", asked) == 0
    assert states("number", "Il 20 per cento della popolazione vive a Nuuk.", "it", asked) == 0
    assert states("number", "About 56,000 people live in Greenland.", "en", asked) == 3
    # a share asked is answered by one
    fell = PassageWords("By how much did sales fall?", "en")
    assert states("number", "Sales fell 12 percent.", "en", fell) == 2


def test_how_many_live_somewhere_wants_a_count_of_those_who_live_there() -> None:
    for question, lang in [
        ("How many people live in Deir Ezzor?", "en"),
        ("Quante persone vivono a Deir Ezzor?", "it"),
    ]:
        asked = PassageWords(question, lang)
        held = "In camps such as al-Hol, thousands of people linked to the group are still held."
        assert states("number", held, "en", asked) == 0
        assert states("number", "About 200,000 people lived in Deir Ezzor.", "en", asked) == 3
        assert states("number", "La città contava 200.000 abitanti.", "it", asked) == 3
    # a count of people asked otherwise is still answered by "thousands of people"
    attended = PassageWords("How many people attended the unveiling?", "en")
    assert states("number", "About 15,000 people attended.", "en", attended) == 3


def test_a_currency_code_glued_to_a_sum_makes_it_money() -> None:
    asked = PassageWords("Quanto è costato il nuovo Terminal 3 dell'aeroporto Changi?", "it")
    said = "Il Terminal 3 da 1,75 miliardi di SGD aprirà a gennaio."
    assert states("number", said, "it", asked) == 2
    assert states("number", "The SGD1.75-billion Terminal 3 opens in January.", "en", asked) == 2
    # a capitalised word before a count is no currency: "Terminal 3" is not a sum
    assert states("number", "Passengers use Terminal 3 and 4 gates.", "en", asked) == 0


def test_a_place_asked_is_a_name_after_a_preposition_of_place() -> None:
    asked = PassageWords("In which city did China Eastern sign its contract for the A320s?", "en")
    # "Paris" is an everyday word, but "in Paris" says where
    said = "The airline signed the agreement in Paris on June 15."
    assert states("place", said, "en", asked) == 2
    assert states("place", "La compagnia ha firmato l'accordo a Parigi.", "it", asked) == 2
    # an everyday name that is not after one stays low
    assert (
        states("place", "China Eastern Airlines stated that it signed a contract.", "en", asked)
        == 1
    )


def test_a_name_after_the_questions_noun_as_a_title_names_what_was_asked() -> None:
    asked = PassageWords("Quale senatore ha reso pubbliche le email dell'Aeronautica?", "it")
    # "McCain" is an everyday word of English news, but it runs on from "Senator"
    said = "Senator John McCain entered them into the Congressional Record."
    assert states("name", said, "en", asked) == NEXT_TO_ASKED
    # a capitalised sentence start is no title, and everyday names stay low
    assert states("name", "Emails exchanged among Air Force officials.", "en", asked) == 1
    # a name the question gives is no title: "the Air Force" does not name the secretary
    given = PassageWords("Which minister of the Air Force mocked the EADS chief?", "en")
    assert states("name", "The Air Force Colonel Hugo Brown resigned.", "en", given) < NEXT_TO_ASKED
    assert states("name", "Air Force Minister Hugo Brown resigned.", "en", given) == NEXT_TO_ASKED


def test_the_noun_a_name_is_asked_for_is_the_one_after_which() -> None:
    # a follow-up read with the question it follows asks for engines, not for an airline
    asked = PassageWords("E quali motori monta? Which airline received the first A380?", "it")
    said = "Singapore Airlines will be receiving the first four aircraft."
    assert states("name", said, "en", asked) < NEXT_TO_ASKED
    # a name after an elided article is a name, not a noun of the question ("l'Isis")
    asked = PassageWords("Dove è ancora attivo l'Isis in Siria?", "it")
    said = "Lo Stato Islamico (Isis) ha intensificato i suoi attacchi nella Siria orientale."
    assert states("place", said, "it", asked) < NEXT_TO_ASKED


def test_due_to_before_a_verb_gives_no_reason() -> None:
    asked = PassageWords("Why did Boeing choose a Sunday to unveil the 787?", "en")
    said = "The first customer, All Nippon Airways, is due to receive its first aircraft in May."
    assert states("reason", said, "en", asked) == 0
    assert states("reason", "The roll-out was delayed due to wiring faults.", "en", asked) == 2


def test_a_consequence_of_gives_a_reason() -> None:
    asked = PassageWords("Why did Isis militants at Sha'fah start fighting each other?", "en")
    said = "The fight started as a consequence of the formation of two factions in the group."
    assert states("reason", said, "en", asked) == 2
    said = "Lo scontro è scoppiato a seguito dell'esecuzione di sette jihadisti."
    assert states("reason", said, "it", asked) == 2
    # "following" is as often a time or a place ("Smoke is seen following a US airstrike")
    said = "Smoke is seen following a US airstrike on western Raqqa."
    assert states("reason", said, "en", asked) == 0


def test_a_name_that_ends_with_the_questions_noun_names_what_was_asked() -> None:
    asked = PassageWords("Which airline is due to receive the first 777-200LR?", "en")
    # "Pakistan", "International" and "Airlines" are everyday words, but the name ends with
    # the asked noun written as a title
    said = "The first of the new airliner will be delivered to Pakistan International Airlines."
    assert states("name", said, "en", asked) == NEXT_TO_ASKED
    # the noun after an everyday name, not run on from it, is not its title
    assert states("name", "Pakistan said the airline would wait.", "en", asked) == 1


def test_across_languages_a_name_beside_the_asked_nouns_cognate_names_it() -> None:
    asked = PassageWords("In quale villaggio un raid ha ucciso un combattente americano?", "it")
    said = "The strike on the village of Ghareebeh killed at least 18 fighters."
    assert states("place", said, "en", asked) == NEXT_TO_ASKED
    # in the question's own language a word is matched as before, not by its first letters
    assert states("place", "Il raid sul villano di Ghareebeh.", "it", asked) < NEXT_TO_ASKED


def test_a_count_of_the_thing_asked_is_graded_above_other_counts() -> None:
    asked = PassageWords("Quante persone hanno partecipato alla presentazione del 787?", "it")
    said = "L'evento ha visto la partecipazione di 15.000 persone tra dipendenti e clienti."
    assert states("number", said, "it", asked) == 3
    assert states("number", "Il 787 ospita tra i 210 e i 330 passeggeri.", "it", asked) == 2
    # across languages the counted word is read by its group of translations
    assert states("number", "Some 15,000 people attended the unveiling.", "en", asked) == 3
    assert states("number", "The 787 seats between 210 and 330 passengers.", "en", asked) == 2
    dealers = PassageWords("How many dealerships did Chrysler ask the court to drop?", "en")
    assert states("number", "Chrysler vuole eliminare 789 concessionari.", "it", dealers) == 3
    assert states("number", "Chrysler ha 3.200 dipendenti in Canada.", "it", dealers) == 2
    english = PassageWords("How many US employees did GM offer buyouts to?", "en")
    assert states("number", "GM will offer buyouts to 22,000 employees.", "en", english) == 3
    assert states("number", "GM has 6,246 dealers in the US.", "en", english) == 2


def test_a_year_asked_is_answered_by_a_year() -> None:
    asked = PassageWords("In che anno Boeing prevede di consegnare il sostituto del 747?", "it")
    assert states("time", "A oggi, sono stati ricevuti 149 ordini.", "it", asked) == 0
    assert states("time", "La cerimonia si è svolta il 18 gennaio.", "it", asked) == 0
    assert states("time", "Il primo volo è previsto per il 2009.", "it", asked) == 2
    assert states("time", "Boeing lo consegnerà l'anno prossimo.", "it", asked) == 2
    english = PassageWords("Since which year has the Falcon been built in Australia?", "en")
    assert states("time", "The Falcon has been built in Australia since 1960.", "en", english) == 2
    # a day or "today" still says when, when no year is asked
    when = PassageWords("Quando consegnerà Boeing il sostituto del 747?", "it")
    assert states("time", "A oggi, sono stati ricevuti 149 ordini.", "it", when) == 2


def test_a_time_of_day_states_when_beside_the_articles_date() -> None:
    asked = PassageWords("When did they attack it?", "en")
    sentence = "I combattenti del JNIM hanno attaccato all'alba la base militare di Acharan."
    assert states("time", sentence, "it", asked) == 2
    assert states("time", "I combattenti hanno attaccato la base militare.", "it", asked) == 0


def test_a_persons_name_is_neither_a_country_nor_a_group() -> None:
    # an Italian sentence that opens with an elided article names nothing by it
    assert (
        names_in("L'ufficio del governatore ha riferito che diciannove erano agenti.", "it") == []
    )
    assert names_in("All'alba l'Isis ha colpito nell'Iraq.", "it") == ["Isis", "Iraq"]
    asks = [
        ("Come si chiama? Chi sospetta la polizia di Gaziantep?", "it"),
        ("What is his name? Who do the Gaziantep police suspect?", "en"),
    ]
    for question, lang in asks:
        assert wants(question) == "name"
        asked = PassageWords(question, lang)
        suspect = (
            "La polizia ha riferito che il sospettato è un presunto militante di Daesh (ISIL)."
        )
        assert states("name", suspect, "it", asked) == 0
        assert states("name", "Un'autobomba è esplosa a Gaziantep, in Turchia.", "it", asked) == 0
        assert states("name", "The suspect was named as Mehmet Yilmaz.", "en", asked) >= 2
    # which group is asked: a group of the alias table answers it
    group = PassageWords("Come si chiama il gruppo che ha rivendicato l'attacco?", "it")
    assert states("name", "L'attacco è stato rivendicato da Daesh.", "it", group) >= 1


def test_who_leads_wants_a_name_beside_a_word_of_leading() -> None:
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
    # a title the question names is answered by that title, in either language
    governor = PassageWords("Chi è il governatore di Latakia?", "it")
    director = '"At least 20 died in Latakia" Observatory director Rami Abdel Rahman told AFP.'
    assert states("leader", director, "en", governor) == 0
    assert states("leader", "Latakia Governor Ibrahim Khodr al-Salem said so.", "en", governor) == 2
    assert states("leader", "Buzz Hargrove, il presidente del sindacato, ha detto.", "it", ceo) == 0
    cfo = PassageWords("Chi è il direttore finanziario di General Motors?", "it")
    assert states("leader", "GM Chief Financial Officer Ray Young said so.", "en", cfo) == 2


def test_training_without_the_shared_data_says_where_to_point(tmp_path: Path) -> None:
    import subprocess
    import sys

    newsrag = Path(sys.executable).parent / "newsrag"
    result = subprocess.run(
        [str(newsrag), "models", "train-judge", "--data", str(tmp_path / "nowhere"),
         "--out", str(tmp_path / "j.npz")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and not (tmp_path / "j.npz").exists()
    said = " ".join(result.stderr.split())
    assert "belebele_it_en.passages.jsonl is missing" in said and "--data" in said
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3


def test_a_fact_of_another_year_does_not_answer_a_question_about_this_one() -> None:
    def passage(text: str, date: str) -> Passage:
        return _article("gm", "GM", text, date)

    answerer = ExtractiveAnswerer(HashEmbedder())
    q = "How much did General Motors lose in 2010?"
    of_2005 = "General Motors said it lost $4.8 billion in the fourth quarter of 2005 alone."
    assert answerer.select(q, "en", [passage(of_2005, "2006-01-27")]) == []
    # the same sentence in an article of 2010, or one that names 2010, answers
    assert answerer.select(q, "en", [passage(of_2005, "2010-05-01")])
    of_2010 = "General Motors said it lost $4.8 billion in the first quarter of 2010 alone."
    assert answerer.select(q, "en", [passage(of_2010, "2011-01-27")])
    # a sentence that names no year is not of another one
    undated = "General Motors said it lost $4.8 billion in the first quarter alone."
    assert answerer.select(q, "en", [passage(undated, "2010-05-15")])


def test_an_article_older_than_the_year_asked_does_not_say_what_was_done_then() -> None:
    def ask(question: str, published: str) -> list[_Sentence]:
        aid = "Il governo fornirà a Ford Australia 52,5 milioni di dollari australiani."
        ford = _article("f", "Ford", aid, published, lang="it")
        return ExtractiveAnswerer(HashEmbedder()).select(question, "it", [ford])

    # an article of 2006 cannot say what Ford earned in 2007
    assert ask("Quanto ha guadagnato Ford nel 2007?", "2006-05-05") == []
    assert ask("Quanto ha guadagnato Ford nel 2007?", "2008-01-05")
    # what was planned for a later year it may say
    assert ask("Quanto vuole spendere il governo per Ford entro il 2007?", "2006-05-05")
    # a question of a year the article was published in is not refused
    assert ask("Quanto ha stanziato il governo nel 2006?", "2006-05-05")


def _article(aid: str, title: str, text: str, date: str | None, lang: str = "en") -> Passage:
    """A one-chunk article (English unless said), as retrieval hands it to the answerer."""
    return Passage(
        chunk_id=f"{aid}#0", article_id=aid, text=text, start=0, end=len(text), title=title,
        date=date, lang=lang, source="s", url=None, story_id=None, score=1.0, dense=0.9,
    )  # fmt: skip


def test_a_name_the_article_says_is_unknown_is_not_stated() -> None:
    text = (
        "The man drove a three-wheeled vehicle armed with explosives into a crowd in Kashgar. "
        "His name is still unknown to authorities, although they know he is a Uighur. "
        "Police officer Ahmet Yusuf said two people were hurt."
    )
    bombing = _article("k", "Kashgar", text, "2014-05-01")
    answerer = ExtractiveAnswerer(HashEmbedder())
    assert answerer.select("What is his name? Who drove into the crowd in Kashgar?", "en",
                           [bombing]) == []  # fmt: skip
    # asked who drove, not his name, the sentences that name someone still answer
    assert answerer.select("Who drove into the crowd in Kashgar?", "en", [bombing])


def test_a_later_article_answers_when_the_first_two_do_not_state_the_kind() -> None:
    answerer = ExtractiveAnswerer(HashEmbedder())
    q = "Chi è il governatore di Homs?"
    clashes = _article("a", "Homs", "Clashes went on in Homs on Monday, activists said.", None)
    shelling = _article("b", "Homs", "Shelling hit the old city of Homs again last night.", None)
    named = "Homs governor Talal Barazi said the evacuation would end on Saturday."
    governor = _article("c", "Homs", named, None)
    other = _article("d", "Aleppo", "Aleppo governor Hussein Diab spoke on television.", None)
    picked = answerer.select(q, "it", [clashes, shelling, other, governor])
    assert (3, named) in [(s.passage, s.text) for s in picked]
    # a later article that does not name what the question names is never read
    assert answerer.select(q, "it", [clashes, shelling, other]) == []
    # and one that the first two already answer is not looked past
    picked = answerer.select(q, "it", [governor, shelling, clashes])
    assert named in [s.text for s in picked] and 2 not in {s.passage for s in picked}


def test_an_article_published_in_the_asked_time_names_its_year() -> None:
    from dataclasses import replace  # only this test gives the engine's asked time

    # "What was Ford's third-quarter 2009 profit per share?": the report of 3 November 2009
    # gives the figure and never writes "2009"
    q = "What was Ford's profit per share in 2009?"
    annual = _article("a", "Ford profit", "Ford posted a profit for 2009 after its worst "
                      "year, 2008, when it lost $ 14.6 billion.", "2010-01-28")  # fmt: skip
    figure = "Ford's profits equate to 26 cents per share, against an expected loss."
    quarter = _article("b", "Ford profits", figure, "2009-11-03")
    answerer = ExtractiveAnswerer(HashEmbedder())
    info = analyse(q, "en")
    in_2009 = replace(info, during=("2009-01-01", "2009-12-31"))
    assert figure in [s.text for s in answerer.select(q, "en", [annual, quarter], in_2009)]
    # without the asked time (a date filter set by the person) the year must be written
    assert figure not in [s.text for s in answerer.select(q, "en", [annual, quarter], info)]
    # and an article of November is not about January
    january = replace(info, during=("2009-01-01", "2009-01-31"))
    assert figure not in [s.text for s in answerer.select(q, "en", [annual, quarter], january)]


def test_a_sum_the_article_says_was_not_disclosed_is_not_stated() -> None:
    text = (
        "Aeroflot has negotiated the purchase of 22 new Boeing 787 Dreamliners. "
        "The aircraft have a catalogue value of US$ 3.5 billion, although neither of the "
        "companies involved would reveal the actual agreement reached between the two firms."
    )
    deal = _article("a", "Aeroflot", text, "2007-06-10")
    answerer = ExtractiveAnswerer(HashEmbedder())
    assert answerer.select("How much did Aeroflot actually pay for its Dreamliners?", "en",
                           [deal]) == []  # fmt: skip
    # a count that is not a sum is still answered beside the same sentence
    assert answerer.select("How many Dreamliners did Aeroflot buy?", "en", [deal])


def test_a_follow_up_that_names_something_is_answered_about_it() -> None:
    from dataclasses import replace

    from rag.words import Term

    text = (
        "Last month an airliner heading to Armenia crashed in Iran, killing the 168 on board. "
        "The same month another airliner overran a runway at Mashhad, killing seventeen."
    )
    crash = _article("c", "Iran", text, None)
    answerer = ExtractiveAnswerer(HashEmbedder(), max_sentences=1)
    query = "How many people died? Where was the airliner at Mashhad heading?"
    info = replace(analyse(query, "en"), focus=(Term("Mashhad", "name"),))
    assert any("Mashhad" in s.text for s in answerer.select(query, "en", [crash], info))
    # no sentence is about the place the follow-up names: the articles do not say
    elsewhere = replace(info, focus=(Term("Tabriz", "name"),))
    assert answerer.select(query, "en", [crash], elsewhere) == []
    assert answerer.select(query, "en", [crash], replace(info, focus=()))  # without a focus


class _Reader:
    """The judge's place in the answerer without its model: a sentence with ``word`` is rated
    the answer. It keeps what it was given to read."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.read: list[list[str]] = []

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        self.read.append(list(sentences))
        return np.array([3.0 if self.word in s else -1.0 for s in sentences], dtype=np.float32)


def test_the_judge_chooses_the_lead_among_every_sentence_of_the_asked_kind() -> None:
    text = (
        "China Eastern Airlines said it had signed a contract for twenty Airbus A320 jets. "
        "Paris hosted the ceremony during a state visit last week. "
        "The jets will be assembled by Airbus in Tianjin from next year."
    )
    deal = _article("d", "A320 deal", text, "2009-06-18")
    q = "In which city did China Eastern sign its contract for the A320s?"
    # by grade alone, "Paris" (an everyday word too, and not after "in") is not quoted:
    # "Tianjin" is rarer
    alone = [s.text for s in ExtractiveAnswerer(HashEmbedder(), max_sentences=1).select(
        q, "en", [deal])]  # fmt: skip
    assert not any("Paris" in s for s in alone)
    judge = _Reader("Paris")
    answerer = ExtractiveAnswerer(HashEmbedder(), judge=judge, max_sentences=1)  # type: ignore[arg-type]
    picked = [s.text for s in answerer.select(q, "en", [deal])]
    assert any("Paris" in s for s in picked)  # the judge read it and chose it
    assert any("Tianjin" in s for s in picked)  # the best-graded sentence is quoted too
    assert judge.read and all(len(batch) == 3 for batch in judge.read)  # read once, all three


def test_a_sentence_about_another_country_does_not_answer() -> None:
    answerer = ExtractiveAnswerer(HashEmbedder())
    text = (
        "France announced on Wednesday the formal end of Operation Barkhane, which had "
        "deployed French troops across the Sahel since 2014. Niger has hosted French forces "
        "since the withdrawal from Mali."
    )
    barkhane = _article("b", "Barkhane ends", text, "2022-11-09")
    # the end of Barkhane is France's, not Niger's: nothing says when Niger ended it
    assert (
        answerer.select("Quando il Niger ha chiuso l'operazione Barkhane?", "it", [barkhane]) == []
    )
    # asked about France, the same sentence answers
    assert answerer.select("Quando la Francia ha chiuso l'operazione Barkhane?", "it", [barkhane])
    # "where" may well be answered by another country
    assembly = _article(
        "k", "Tankers", "The first four aircraft will be assembled in Toulouse, France.", None
    )
    q = "Where will the first tankers be assembled before production moves to the United States?"
    assert answerer.select(q, "en", [assembly])


def test_a_count_of_things_is_not_answered_by_a_sum_of_money() -> None:
    asked = PassageWords("How many US employees will GM offer voluntary buyouts to?", "en")
    loan = "General Motors ha chiesto prestiti al governo per 16,6 miliardi di dollari."
    assert states("number", loan, "it", asked) == 0
    assert states("number", "Each worker gets $ 20,000 and a voucher.", "en", asked) == 0
    # a count of people beside a sum still states one
    said = "GM offered buyouts to 22.000 dipendenti, at $ 140,000 each."
    assert states("number", said, "it", asked) == 3  # "dipendenti" counts employees
    # and a count of dollars asked is answered by a sum
    dollars = PassageWords("How many dollars did GM lose in 2005?", "en")
    assert states("number", "GM lost 4.8 billion dollars.", "en", dollars) > 0


def test_a_sentence_of_consequence_is_quoted_with_the_one_it_follows_from() -> None:
    text = (
        "Isis is imploding at Deir Ezzor. Some wanted to execute the deserters, but others "
        "were against this. As a consequence, they passed from words to action because the "
        "group split and a firefight started."
    )
    seed = _article("s", "Isis implodes", text, None)
    q = "Why did Isis militants start fighting each other?"
    picked = [s.text for s in ExtractiveAnswerer(HashEmbedder(), max_sentences=1).select(
        q, "en", [seed])]  # fmt: skip
    assert picked[-1].startswith("As a consequence")  # the one sentence that gives a reason
    assert any("deserters" in s for s in picked)  # and what it is the consequence of


def test_which_minister_is_answered_by_a_name_beside_the_title() -> None:
    answerer = ExtractiveAnswerer(HashEmbedder())
    attack = _article(
        "a", "Acharan", "JNIM fighters attacked the Acharan base near Timbuktu on Tuesday.", None
    )
    q = "Quale ministro della difesa del Mali ha parlato dell'attacco di Acharan?"
    assert answerer.select(q, "it", [attack]) == []  # names an attacker, no minister
    said = (
        "JNIM fighters attacked the Acharan base. Defence Minister Sadio Camara said the "
        "attack on Acharan was repelled."
    )
    minister = _article("m", "Acharan", said, None)
    assert any("Camara" in s.text for s in answerer.select(q, "it", [minister]))


def test_a_person_asked_by_role_is_named_beside_it() -> None:
    pilot = PassageWords("Chi era il pilota del Gripen precipitato?", "it")
    said = "The pilot was identified as Squadron Leader Dilokrit Pattavee."
    assert states("actor", said, "en", pilot) >= NEXT_TO_ASKED  # after a word of naming
    said = "Singapore Airlines says that it will be compensated by Airbus."
    assert states("actor", said, "en", pilot) == 0  # names someone, not the pilot
    # in the question's language, a sentence that names the role names whoever it gives
    said = "L'identificazione del pilota ha rivelato che si trattava del capo Dilokrit Pattavee."
    assert states("actor", said, "it", pilot) >= NEXT_TO_ASKED
    # a spokesman beside his role, in the question's language
    asked = PassageWords("Chi è il portavoce di Force Ouvrière?", "it")
    said = "Il portavoce Jean-Pierre Mercier ha criticato i tagli."
    assert states("actor", said, "it", asked) >= NEXT_TO_ASKED
    # "who attacked…" is not asked by a role: any name not in the question answers
    attack = PassageWords("Chi ha attaccato la base di Acharan?", "it")
    assert states("actor", "JNIM fighters stormed the camp.", "en", attack) == 2


def test_a_joined_vice_title_is_read_in_the_two_english_words() -> None:
    asked = PassageWords("Chi è il vicepresidente vendite e marketing di Ford?", "it")
    said = "said Ken Czubay, Ford's vice president of sales and marketing."
    assert states("actor", said, "en", asked) >= NEXT_TO_ASKED
    # a vice president is not the president asked ("Tom LaSorda, the president of Chrysler")
    said = "Tom LaSorda, the president of Chrysler, announced the plan."
    assert states("actor", said, "en", asked) == 0
