"""PDF text extraction: pypdf against pypdfium2 (and pdfminer.six if installed), on PDFs made here.

    python bench/pdf_text.py [--passages 120] [--repeat 3]

Prints one JSON object. The PDFs are written with reportlab from real Italian and English
passages (Belebele, ../shared/data), so the true text is known: one in a single column, one
in two justified columns with a running header and page numbers. For each extractor:
seconds per page (best of ``--repeat``), and how well the text came back:
  word_recall   share of the true words found, in order (difflib on word lists)
  accents       share of the true words with accented letters found intact
  glued         extracted "words" that are two true words run together (lost spaces)
Used to choose ingest/formats/pdf.py's extractor.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
_WORD = re.compile(r"\w+", re.UNICODE)


def passages(n: int) -> list[str]:
    rows = [json.loads(line) for line in (SHARED / "belebele_it_en.passages.jsonl").open()]
    it = [r["text"] for r in rows if r["lang"] == "it"][: n // 2]
    en = [r["text"] for r in rows if r["lang"] == "en"][: n - len(it)]
    return [t for pair in zip(it, en, strict=False) for t in pair]


def make_pdfs(texts: list[str], folder: Path) -> dict[str, Path]:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    body.alignment = 4  # justified

    def header(canvas, doc):  # type: ignore[no-untyped-def]
        canvas.setFont("Helvetica", 8)
        canvas.drawString(40, A4[1] - 30, "Gazzetta di prova - archivio")
        canvas.drawString(A4[0] - 80, 25, f"pag. {doc.page}")

    out = {}
    width, height = A4
    layouts = {
        "one_column": [Frame(50, 50, width - 100, height - 100)],
        "two_columns": [Frame(40, 50, (width - 100) / 2, height - 100),
                        Frame(60 + (width - 100) / 2, 50, (width - 100) / 2, height - 100)],
    }  # fmt: skip
    for name, frames in layouts.items():
        path = folder / f"{name}.pdf"
        doc = BaseDocTemplate(str(path), pagesize=A4, title="Prova")
        doc.addPageTemplates([PageTemplate(frames=frames, onPage=header)])
        doc.build([Paragraph(t, body) for t in texts])
        out[name] = path
    return out


def extract_pypdf(path: Path) -> tuple[str, int]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return "\n".join(p.extract_text() or "" for p in reader.pages), len(reader.pages)


def extract_pypdfium2(path: Path) -> tuple[str, int]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return "\n".join(texts), len(texts)
    finally:
        pdf.close()


def extract_pdfminer(path: Path) -> tuple[str, int]:
    from pdfminer.high_level import extract_text  # optional: pip install pdfminer.six
    from pypdf import PdfReader

    return extract_text(str(path)), len(PdfReader(path).pages)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def quality(truth: list[str], text: str) -> dict[str, float]:
    want = _WORD.findall(" ".join(truth).lower())
    got = _WORD.findall(text.lower())
    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    matched = sum(b.size for b in matcher.get_matching_blocks())
    accented = [w for w in want if re.search(r"[àèéìíòóùú]", w)]
    have = set(got)
    pairs = {a + b for a, b in pairwise(want)}
    glued = sum(1 for w in got if w in pairs and w not in set(want))
    return {
        "word_recall": round(matched / len(want), 4),
        "accents": round(sum(w in have for w in accented) / max(1, len(accented)), 4),
        "glued": glued,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    texts = passages(args.passages)
    extractors = {"pypdf": extract_pypdf, "pypdfium2": extract_pypdfium2}
    if _installed("pdfminer"):
        extractors["pdfminer.six"] = extract_pdfminer
    result: dict[str, object] = {
        "passages": len(texts),
        "words": len(_WORD.findall(" ".join(texts))),
    }
    with tempfile.TemporaryDirectory() as tmp:
        pdfs = make_pdfs(texts, Path(tmp))
        for layout, path in pdfs.items():
            rows = {}
            for name, extract in extractors.items():
                best = float("inf")
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    text, pages = extract(path)
                    best = min(best, time.perf_counter() - started)
                rows[name] = {"pages": pages, "ms_per_page": round(1000 * best / pages, 2),
                              **quality(texts, text)}  # fmt: skip
            result[layout] = rows
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
