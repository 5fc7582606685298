"""Fixtures of the integration tests that start real servers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.llm_server import free_port


@pytest.fixture
def chroma_server(tmp_path):
    import chromadb

    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    chroma = Path(sys.executable).parent / "chroma"
    data = tmp_path / "server-data"
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"chroma run did not start: {(tmp_path / 'chroma.log').read_text()}")
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}", port, data
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
