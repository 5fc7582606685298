"""PDF and Word files: text, title, language; and the files that cannot be read, reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import discover, read_file
from rag.types import Article, Problem

MB = 1024 * 1024
# written for these tests
PARAGRAPHS = [
    "Il consiglio comunale di Borgoverde ha approvato ieri sera il progetto del nuovo ponte "
    "pedonale sul torrente Lirano, atteso da oltre dieci anni dai residenti del quartiere.",
    "L'opera costerà quattro milioni e sarà pronta nella primavera del 2033, ha detto "
    "l'assessore Davide Morlacchi, che ha ringraziato i comitati per la loro pazienza.",
    "I lavori cominceranno in autunno, quando il livello del torrente è più basso e le piene "
    "sono rare; la strada lungo l'argine resterà chiusa per sei settimane.",
]


def read(path: Path) -> tuple[list[Article], list[Problem]]:
    items = list(read_file(path, max_bytes=10 * MB))
    return [i for i in items if isinstance(i, Article)], [
        i for i in items if isinstance(i, Problem)
    ]


def make_pdf(path: Path, paragraphs: list[str], *, title: str | None = None, pages: int = 1,
             columns: int = 1, heading: str | None = None) -> Path:  # fmt: skip
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph

    width, height = A4
    w = (width - 100 - 20 * (columns - 1)) / columns
    frames = [Frame(50 + i * (w + 20), 60, w, height - 120) for i in range(columns)]

    def running(canvas, doc):  # a running head and page numbers, as newspapers print them
        canvas.setFont("Helvetica", 8)
        canvas.drawString(50, height - 40, "Gazzetta di Borgoverde - edizione del mattino")
        canvas.drawString(width - 90, 30, f"pag. {doc.page}")

    doc = BaseDocTemplate(str(path), pagesize=A4, title=title or "")
    doc.addPageTemplates([PageTemplate(frames=frames, onPage=running)])
    style = getSampleStyleSheet()["BodyText"]
    story = [Paragraph(heading, getSampleStyleSheet()["Heading1"])] if heading else []
    for n in range(pages):  # each page in another order: no page ends like another
        story += [Paragraph(p, style) for p in paragraphs[n:] + paragraphs[:n]]
        if n < pages - 1:
            story.append(PageBreak())
    doc.build(story)
    return path


def test_a_pdf_article_gives_its_text_in_paragraphs_and_its_title(tmp_path):
    pdf = make_pdf(tmp_path / "ponte.pdf", PARAGRAPHS, title="Borgoverde approva il nuovo ponte",
                   heading="Borgoverde approva il nuovo ponte")  # fmt: skip
    (article,), problems = read(pdf)
    assert problems == []
    assert article.title == "Borgoverde approva il nuovo ponte"
    # one page: its masthead cannot be told from the text, but stays a line of its own; the
    # heading that repeats the title goes, and the lines are joined back into paragraphs
    assert article.text.split("\n\n") == [
        "Gazzetta di Borgoverde - edizione del mattino", *PARAGRAPHS
    ]  # fmt: skip
    assert article.id == "file:ponte.pdf"


def test_running_heads_and_page_numbers_are_dropped_and_columns_read_in_order(tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf", PARAGRAPHS, pages=3, columns=2)
    (article,), _ = read(pdf)
    assert "edizione del mattino" not in article.text and "pag." not in article.text
    words = article.text.split()
    assert words.count("Borgoverde") == 3  # once per page, nothing lost
    assert article.text.index("Morlacchi") < article.text.index("argine")
    assert article.title.startswith("Il consiglio comunale di Borgoverde")  # no metadata title


def test_a_pdf_without_text_or_damaged_is_reported_with_what_to_do(tmp_path):
    from reportlab.pdfgen import canvas

    scan = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(scan))
    c.rect(100, 100, 300, 400, fill=1)  # a picture, no text: what a scanner gives
    c.save()
    articles, (problem,) = read(scan)
    assert articles == [] and "OCR" in problem.reason
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"garbage " * 50)
    articles, (problem,) = read(broken)
    assert articles == [] and "damaged PDF" in problem.reason
    fake = tmp_path / "fake.pdf"
    fake.write_text("just text")
    articles, (problem,) = read(fake)
    assert articles == [] and "not a PDF" in problem.reason


def test_a_docx_article_gives_its_title_paragraphs_tables_and_language(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Borgoverde approva il nuovo ponte", level=1)
    for p in PARAGRAPHS:
        document.add_paragraph(p)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Costo", "4 milioni"
    document.core_properties.language = "it-IT"
    path = tmp_path / "ponte.docx"
    document.save(str(path))
    (article,), problems = read(path)
    assert problems == [] and article.title == "Borgoverde approva il nuovo ponte"
    assert article.text.split("\n\n") == [*PARAGRAPHS, "Costo | 4 milioni"]
    assert article.lang == "it"


def test_a_broken_docx_is_reported(tmp_path):
    path = tmp_path / "x.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    articles, (problem,) = read(path)
    assert articles == [] and "save it again as .docx" in problem.reason


@pytest.mark.parametrize("ext", [".pdf", ".docx"])
def test_pdf_and_docx_are_found_in_folders(tmp_path, ext):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / f"x{ext}").write_bytes(b"%PDF-1.4")
    files, problems = discover([tmp_path / "a"])
    assert [f.name for f in files] == [f"x{ext}"] and problems == []
