"""Readers for each kind of article file, behind ``ingest.sources.read_file``.

``text`` (plain text and Markdown with front matter), ``html`` (web pages), ``records``
(JSONL and JSON exports) and ``csv_records`` (CSV exports), one article per record;
``article`` turns the fields any of them found into an ``Article`` (the id rules live
there), ``fields`` says where a source keeps each canonical field (``--map``), and
``common`` holds what they share: the file being read with its capped problem log, and the
byte and UTF-8 checks.

Each reader takes a ``SourceFile`` and yields ``Article``s and ``Problem``s; it never
raises for bad input. Import ``ingest.sources``, not these modules: they are its insides.
"""
