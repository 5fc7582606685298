"""Process environment set before gradio, chromadb and torch are imported."""

from __future__ import annotations

import os


def quiet_phone_home(*, offline: bool = False) -> None:
    """No telemetry, ever (see ENVIRONMENT.md), and no spinning threads.

    ``offline`` also keeps the Hugging Face hub from being asked anything: the web server
    fetches nothing from outside while serving; the CLI may still install a hub model.
    """
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # torch's OpenMP threads otherwise spin while waiting: with other busy processes (or
    # several questions at once) a 20 ms query embedding took over a second; passive: 65 ms
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
