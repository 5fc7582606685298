"""The chat page's example questions over the sample archive, as a new user meets them.

`make demo` serves data/sample with the engine composed from settings (app/compose.py, as
`newsrag serve` does). Every example button is clicked in chromium, in the English and in the
Italian interface, and the answer on the screen is read: it must state the fact the question
asks for and cite an article that says it, or, for the near-topic question about a base no
article names, say so plainly and cite nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.app_server import running
from tests.browser.conftest import Server, shot
from tests.conftest import REPO
from ui.web.i18n import EXAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# example -> (what the answer must say: any one of these, the article it must cite)
EXPECTED = {
    "Where is Isis still active in Syria?": (("Deir Ezzor", "Palmyra", "Mayadin"), "Syria"),
    "Dove è ancora attivo l'Isis in Siria?": (("Deir Ezzor", "Palmira", "Mayadin"), "Siria"),
    "Who attacked the base at Acharan?": (("JNIM",), "Acharan"),
    "Chi ha attaccato la base di Acharan?": (("JNIM",), "Acharan"),
    "When did France end Operation Barkhane?": (("2022",), "Barkhane"),
    "Quali gruppi si contendono il lago Ciad?": (("ISWAP", "Boko Haram"), "lago Ciad"),
}
REFUSED = {
    "Who attacked the base at Tessalit?": "No article in the archive mentions “Tessalit”",
    "Chi ha attaccato la base di Tessalit?": "Nessun articolo dell'archivio parla di «Tessalit»",
}


def test_every_example_is_known_to_this_test():
    assert set(EXAMPLES["en"]) | set(EXAMPLES["it"]) == set(EXPECTED) | set(REFUSED)
    assert len(EXAMPLES["en"]) == len(EXAMPLES["it"])  # the buttons are relabelled in place


@pytest.fixture(scope="module")
def demo(tmp_path_factory, e5_embedder) -> Iterator[Server]:

    from ingest.sync import Ingestor
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings
    from ui.web.server import create_app

    index_dir = tmp_path_factory.mktemp("demo") / "index"
    settings = Settings(
        _env_file=None, index_dir=index_dir, models_dir=REPO / "data" / "models", llm=None,
        api_keys=[], allowed_origins=[], rate_limit_per_minute=0,
    )  # fmt: skip
    index = ArchiveIndex.open(settings, model_label=e5_embedder.label, dim=e5_embedder.dim)
    Ingestor(index, e5_embedder).run([REPO / "data" / "sample"], max_bytes=10**7)
    index.close()
    app = create_app(settings)  # the engine is built from settings, as `newsrag serve` does
    with running(app, timeout=180) as url:
        yield Server(url, index_dir)


def ask_example(page: Page, text: str) -> None:
    done = "#nr-chat .nr-sources, #nr-chat .nr-refusal, #nr-chat .nr-error"
    before = page.locator(done).count()
    page.locator(".nr-example").get_by_text(text, exact=True).click()
    expect(page.locator(done)).to_have_count(before + 1)


@pytest.mark.parametrize("ui_lang", ["en", "it"])
def test_each_example_is_answered_right_or_honestly_refused(demo, new_page, ui_lang):
    page = new_page(locale="it-IT" if ui_lang == "it" else "en-US")
    page.goto(demo.url + "/")
    expect(page.locator("#nr-question textarea")).to_be_visible()
    for n, example in enumerate(EXAMPLES[ui_lang]):
        page.locator("#nr-new").click()  # each example on its own, as a new visitor asks it
        expect(page.locator("#nr-chat .nr-answer")).to_have_count(0)
        ask_example(page, example)
        answer = page.locator("#nr-chat .nr-answer").last
        if example in REFUSED:
            expect(answer).to_contain_text(REFUSED[example])
            expect(page.locator("#nr-chat .nr-card")).to_have_count(0)
        else:
            facts, cited = EXPECTED[example]
            said = answer.inner_text()
            assert any(f in said for f in facts), f"{example!r} was answered: {said!r}"
            assert "[1]" in said
            expect(page.locator("#nr-chat .nr-card").first).to_contain_text(cited)
        shot(page, f"demo-{ui_lang}-{n}")
    assert not page.errors


def ask_typed(page: Page, question: str) -> str:
    """Types a question into the chat page, waits for the answer, returns its text."""
    done = "#nr-chat .nr-sources, #nr-chat .nr-refusal, #nr-chat .nr-error"
    before = page.locator(done).count()
    box = page.locator("#nr-question textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator(done)).to_have_count(before + 1)
    return page.locator("#nr-chat .nr-answer").last.inner_text()


def test_follow_ups_about_the_acharan_attack_are_answered_with_its_date(demo, new_page):
    page = new_page(locale="en-US")
    page.goto(demo.url + "/")
    assert "JNIM" in ask_typed(page, "Who attacked the base at Acharan?")
    for follow_up in ("And when?", "Quando?", "When did it happen?", "When did they attack it?"):
        said = ask_typed(page, follow_up)
        assert "October 2023" in said or "ottobre 2023" in said, f"{follow_up!r}: {said!r}"
        assert "[1]" in said
    shot(page, "demo-follow-ups")
    assert not page.errors


def test_a_count_the_article_does_not_give_is_said_to_be_missing(demo, new_page):
    page = new_page(locale="en-US")
    page.goto(demo.url + "/")
    said = ask_typed(page, "How many soldiers were killed in the Djibo ambush?")
    assert "do not say how many" in said and "Djibo" in said, said
    expect(page.locator("#nr-chat .nr-card")).to_have_count(0)
    shot(page, "demo-djibo")


def test_a_follow_up_in_the_widget_is_answered_with_the_date(demo, new_page):
    page = new_page(locale="en-US")
    page.goto(demo.url + "/widget")
    box = page.locator("#question")
    done = page.locator(".sources, .msg.error")
    for n, question in enumerate(("Who attacked the base at Acharan?", "And when?"), 1):
        box.fill(question)
        box.press("Enter")
        expect(done).to_have_count(n)
    said = page.locator(".answer").last.inner_text()
    assert "October 2023" in said, said
    shot(page, "demo-widget-follow-up")
