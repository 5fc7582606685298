"""The runtime between the engine and its faces: what the CLI, the web server and bench/ build on.

``compose`` wires the engine and the ingestor from settings; ``services`` holds a serving
process's engine, its writes and its background work; ``sync_scheduler`` syncs the sources
inside a server; ``sources`` are the followed sources' operations; ``status`` the records they
report; ``ratelimit``, ``feedback`` and ``quiet`` the small runtime pieces beside them.
Nothing here prints, renders or speaks HTTP: ui/ does.
"""
