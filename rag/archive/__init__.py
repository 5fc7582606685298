"""The archive: what the engine searches, kept in one index folder. The manifest (SQLite) is the
articles themselves and the truth about them: their text, their chunks' spans, what is written
and the generation that moves on every change; the Chroma store holds the vectors (a chunk's and
an article's), with a cache of chunks read per generation; the lexical index is BM25 over
immutable segments, rebuilt from the manifest when needed; ``ArchiveIndex`` opens the three
together and checks them. One process writes at a time (the writer lock), a serving process
keeps its in-memory lexical index current while another writes (refresh), and an index folder
can be backed up and restored whole (backup).
"""
