"""clean_text: Unicode, whitespace and page chrome; split_title: the title rule for plain text."""

from __future__ import annotations

import pytest

from ingest.clean import clean_text, is_chrome, split_title

IT_TITLE = "Siria, Isis implode a Deir Ezzor: Scontri interni allo Stato Islamico a Sha’fah"
EN_TITLE = "Syria, Isis implodes at Deir Ezzor; clashes inside Islamic State at Sha’fah"


def test_unicode_is_composed_but_not_compatibility_folded():
    assert clean_text("citta\u0300 di Sha\u2019fah") == "città di Sha’fah"  # NFC composes
    # NFC, not NFKC: what the publisher wrote stays (citations quote it)
    assert clean_text("area di 20 km² e ½ ﬁle") == "area di 20 km² e ½ ﬁle"


def test_invisible_and_control_characters_are_removed():
    raw = "\ufeffDeir\u200b Ez\u00adzor\u2060 \x07base\x00 T2\u200e"
    assert clean_text(raw) == "Deir Ezzor base T2"


def test_zero_width_non_joiner_is_kept_for_persian():
    assert clean_text("می\u200cخواهم") == "می\u200cخواهم"


def test_spaces_and_lines_are_normalised():
    raw = (
        "  Titolo\u00a0con\u202fspazi \t strani  \r\nriga due\r\r\n\n\n\n\nnuovo   paragrafo  \n\n"
    )
    assert clean_text(raw) == "Titolo con spazi strani\nriga due\n\nnuovo paragrafo"


def test_paragraph_separator_characters_become_breaks():
    assert clean_text("uno\u2028due\u2029tre") == "uno\ndue\n\ntre"


def test_empty_and_whitespace_only_text_is_empty():
    assert clean_text("") == ""
    assert clean_text(" \n\t\u00a0\n ") == ""
    assert clean_text("skip to Main Content\n\nBack To Top") == ""


@pytest.mark.parametrize(
    "line",
    [
        "skip to Main Content", "Skip to content", "Back To Top", "↑ Back to top", "Torna su",
        "Vai al contenuto", "Vai al contenuto principale", "Share on Facebook",
        "Share on Twitter", "Condividi", "Condividi su WhatsApp", "Leggi anche",
        "Leggi anche: Siria, nuovi scontri a Idlib", "Leggi anche - Mali, attacco a Gao",
        "» Leggi anche", "Cookie policy",
        "Subscribe to our newsletter", "Iscriviti alla newsletter", "All rights reserved",
        "© 2024 Osservatorio Demo. Tutti i diritti riservati.", "Tutti i diritti riservati",
        "Print", "Stampa", "Related articles", "Articoli correlati", "Menu", "Home",
        "Riproduzione riservata", "Advertisement", "Pubblicità", "Copyright 2017 Reuters",
        "This website uses cookies to improve your experience.", "Accetta",
        "Tempo di lettura: 3 minuti",
    ],
)  # fmt: skip
def test_chrome_lines_are_removed(line):
    assert is_chrome(line)
    assert clean_text(f"Prima riga dell'articolo.\n{line}\nUltima riga.") == (
        "Prima riga dell'articolo.\nUltima riga."
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "The print edition of the newspaper was suspended in Raqqa.",
        "La stampa estera ha criticato la gestione del campo di al-Hol.",
        "Share prices fell in Damascus after the attack.",
        "Back to top form, the army pressed on towards Palmyra.",
        "Top commanders met in Baghdad on Monday.",
        "Leggi anche il rapporto dell'ONU: la situazione è peggiorata.",
        "Copyright laws do not apply to propaganda videos, the court said.",
        "Home to two million people, Mosul was the largest city held by the group.",
        "Subscribe, the group told its followers, to the new channel.",
    ],
)
def test_real_sentences_are_never_cut(sentence):
    assert not is_chrome(sentence)
    assert sentence in clean_text(f"Titolo\n{sentence}\nFine.")


def test_seed_chrome_is_removed(seeds_dir):
    en = clean_text((seeds_dir / "000_6473641cabe65d09.txt").read_text("utf-8"))
    assert "skip to" not in en.lower() and "back to top" not in en.lower()
    assert en.startswith(EN_TITLE)
    assert "\n\n" in en and "\n\n\n" not in en


# --- split_title ------------------------------------------------------------------------------
def test_markdown_heading_is_the_title_and_leaves_the_body():
    title, body = split_title("# Isis a Deir Ezzor\n\nPrimo paragrafo.\n\n## Sezione\n\nAltro.")
    assert title == "Isis a Deir Ezzor"
    assert body == "Primo paragrafo.\n\n## Sezione\n\nAltro."


def test_setext_heading_is_the_title():
    title, body = split_title("Raqqa falls\n===========\n\nThe SDF took the city.")
    assert (title, body) == ("Raqqa falls", "The SDF took the city.")


def test_headline_like_line_after_a_teaser_is_the_title_and_the_teaser_stays():
    text = (
        "A long teaser sentence about another story. It ends with a period.\nThe headline\n\nBody."
    )
    title, body = split_title(text)
    assert title == "The headline"
    assert body == "A long teaser sentence about another story. It ends with a period.\n\nBody."


def test_without_a_headline_the_first_line_is_the_title_and_the_body_is_everything():
    text = "The army said on Monday that the base had been attacked overnight.\nMore text."
    title, body = split_title(text)
    assert title == "The army said on Monday that the base had been attacked overnight."
    assert body == text


def test_long_first_line_title_is_shortened_at_a_word():
    first = "word " * 60 + "end."
    title, body = split_title(first)
    assert len(title) <= 121 and title.endswith("…") and body == first


def test_a_dateline_is_not_a_headline():
    title, _ = split_title(
        "Wed 05 Apr 2017\nSyria attack symptoms consistent with nerve agent\n\nText."
    )
    assert title == "Syria attack symptoms consistent with nerve agent"


def test_empty_text_has_no_title():
    assert split_title("") == ("", "")


def test_italian_seed_title_and_teaser(seeds_dir):
    text = clean_text((seeds_dir / "001_af3cd1c6c052b50c.txt").read_text("utf-8"))
    title, body = split_title(text)
    assert title == IT_TITLE
    assert body.startswith(
        "Il JNIM ha attaccato e, presumibilmente, conquistato una base ad Acharan."
    )
    assert IT_TITLE not in body
    assert "L’esecuzione di 7 fuggitivi Isis da Sha’fah" in body
    assert body.endswith("che alimentano ulteriormente i contrasti interni.")


def test_english_seed_title(seeds_dir):
    text = clean_text((seeds_dir / "000_6473641cabe65d09.txt").read_text("utf-8"))
    title, body = split_title(text)
    assert title == EN_TITLE
    assert body.startswith("The execution of 7 Isis fugitives from Sha’fah")
