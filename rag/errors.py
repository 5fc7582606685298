"""Every error newsrag raises on purpose derives from one base class.

    NewsragError                 a user-facing problem; the message says how to fix it
    ├── ConfigError              a setting is missing or has an impossible value
    ├── ModelError               an embedding model cannot be installed, verified or loaded
    ├── IndexMismatchError       the index was built by another embedding model, or by a
    │                            newer newsrag (its index format)
    ├── StoreError               the vector store is unreachable or in an unexpected state
    │   └── IndexBusyError       another process (a server, an ingest) is writing the index
    └── InputError               a file or record given by the user cannot be used

The CLI turns these into one line on stderr and an exit code; the web UI and the API show
them as readable messages. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class NewsragError(Exception):
    """Base class: ``str(err)`` is a complete sentence that tells the user what to do."""

    exit_code = 1


class ConfigError(NewsragError):
    exit_code = 2


class ModelError(NewsragError):
    exit_code = 3


class IndexMismatchError(NewsragError):
    exit_code = 4


class StoreError(NewsragError):
    exit_code = 5


class IndexBusyError(StoreError):
    exit_code = 8


class InputError(NewsragError):
    exit_code = 6
