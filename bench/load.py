"""Load on the real web server: concurrent clients asking /api/ask, Italian and English.

    python bench/load.py [--index DIR] [--clients 8] [--requests 200] [--api-key KEY]
                         [--ingest-during PATH]

Starts `newsrag serve` (uvicorn) in a subprocess on a free loopback port over the index
(default data/bench.index, built on first use from ../shared/data/fakes_syria_en.csv and the
sample archive), waits for /readyz, sends the requests from N concurrent clients and prints
JSON: clients, requests, errors, p50/p95/max latency in ms, requests/s and the server's peak
resident memory. The rate limit is switched off for the run (NEWSRAG_RATE_LIMIT_PER_MINUTE=0).
Only loopback is ever contacted; the run is bounded by --requests and --timeout.

``--api-key KEY``: the server is locked (NEWSRAG_API_KEYS=KEY) and every client sends the key,
so the checks a locked intranet server makes are in the measured path. ``--ingest-during
PATH``: while the clients ask, ``newsrag ingest --server`` uploads PATH through the server's
one writer (admin key ``bench-admin``); its exit status and time are reported, and an ingest
that fails counts as an error. The index is then changed: use a copy (``--index``).
``--checkout DIR``: the server runs that checkout's code (another commit's worktree), so two
versions are measured by the same clients in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_INDEX = REPO / "data" / "bench.index"
QUESTIONS = [
    "What happened in Khan Sheikhoun in April 2017?",
    "Who was blamed for the chemical attack in Syria?",
    "How many civilians were killed in air strikes on Aleppo?",
    "What did the United States do after the sarin attack?",
    "Where did Russian warplanes bomb rebel positions?",
    "What happened in Raqqa during the offensive against Islamic State?",
    "Which hospitals were hit by air strikes in Idlib?",
    "What did the UN Security Council say about Syria?",
    "Who leads the offensive on Raqqa?",
    "where is Isis still active in Syria?",
    "Cosa è successo a Khan Sheikhoun nell'aprile 2017?",
    "Chi è stato accusato dell'attacco chimico in Siria?",
    "Quanti civili sono morti nei bombardamenti su Aleppo?",
    "Cosa hanno fatto gli Stati Uniti dopo l'attacco con il sarin?",
    "Dove hanno bombardato gli aerei russi?",
    "Cosa è successo a Raqqa durante l'offensiva contro lo Stato Islamico?",
    "Quali ospedali sono stati colpiti a Idlib?",
    "Che cosa ha detto il Consiglio di sicurezza dell'ONU sulla Siria?",
    "chi ha attaccato la base di Acharan?",
    "Dove è ancora attivo l'Isis in Siria?",
]


def title_questions(n: int) -> list[str]:
    """Distinct questions (no cache helps): one per FA-KES article title, English and Italian."""
    titles = []
    with (SHARED / "fakes_syria_en.passages.jsonl").open(encoding="utf-8") as f:
        for line in f:
            title = json.loads(line).get("title", "").strip()
            if title and title not in titles:
                titles.append(title)
    templates = ("What do the articles say about {}?", "Cosa dicono gli articoli su {}?")
    return [templates[i % 2].format(t) for i, t in enumerate(titles[:n])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NEWSRAG_MODELS_DIR", str(REPO / "data" / "models"))
    env.update(
        NEWSRAG_RATE_LIMIT_PER_MINUTE="0",
        NEWSRAG_LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
    )
    return env


def ensure_index(index: Path) -> None:
    if (index / "manifest.sqlite").exists():
        return
    csv = SHARED / "fakes_syria_en.csv"
    print(f"building {index} from {csv} (a few minutes, once)", file=sys.stderr)
    command = [
        sys.executable, "-m", "ui.cli", "ingest", "--index", str(index), "--quiet",
        "--map", "id=unit_id,title=article_title,text=article_content",
        str(csv), str(REPO / "data" / "sample"),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO, env=environment(), stdout=sys.stderr)


def peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready after {timeout:.0f} s:\n{log.read_text()}")


def run_load(
    base: str,
    clients: int,
    requests: int,
    timeout: float,
    questions: list[str],
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_request = iter(range(requests))

    def client() -> None:
        with httpx.Client(base_url=base, timeout=timeout, headers=headers or {}) as http:
            while True:
                with lock:
                    n = next(next_request, None)
                if n is None:
                    return
                question = questions[n % len(questions)]
                started = time.perf_counter()
                try:
                    r = http.post("/api/ask", json={"question": question})
                    ok = r.status_code == 200 and bool(r.json().get("answer"))
                    problem = None if ok else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as err:
                    problem = f"{type(err).__name__}: {err}"
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        errors.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:3],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "max_ms": round(ordered[-1], 1),
        "requests_per_s": round(len(latencies) / wall, 2),
        "wall_s": round(wall, 1),
    }


def ingest_through(base: str, path: Path, out: dict[str, object]) -> None:
    """``newsrag ingest --server`` of ``path`` while the load runs; its status into ``out``."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", "--server", base, "--key", "bench-admin",
         "--quiet", str(path)],
        cwd=REPO, env=environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out |= {
        "path": str(path), "returncode": run.returncode,
        "seconds": round(time.perf_counter() - started, 1), "stderr": run.stderr[-300:],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0, help="Seconds per request.")
    ap.add_argument(
        "--questions", choices=["titles", "fixed"], default="titles",
        help="titles: a distinct question per request (from FA-KES titles, English and "
        "Italian); fixed: the 22 hand-written questions over and over (warm caches)",
    )  # fmt: skip
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    ap.add_argument("--api-key", help="Lock the server with this key; the clients send it.")
    ap.add_argument("--checkout", type=Path, default=REPO, help="Whose code serves.")
    ap.add_argument("--ingest-during", type=Path, help="Ingest this through the server meanwhile.")
    args = ap.parse_args()
    env = environment()
    headers = {}
    if args.api_key:
        env["NEWSRAG_API_KEYS"] = args.api_key
        headers["Authorization"] = f"Bearer {args.api_key}"
    if args.ingest_during:
        env["NEWSRAG_ADMIN_KEYS"] = "bench-admin"

    ensure_index(args.index)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "ui.cli", "serve", "--index", str(args.index),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            env["PYTHONPATH"] = str(args.checkout.resolve())
            server = subprocess.Popen(
                command, cwd=args.checkout, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            started = time.perf_counter()
            wait_ready(base, server, log, args.ready_timeout)
            ready_s = round(time.perf_counter() - started, 1)
            for question in (QUESTIONS[0], QUESTIONS[10]):  # first-request costs, not measured
                httpx.post(
                    f"{base}/api/ask", json={"question": question}, timeout=args.timeout,
                    headers=headers,
                )  # fmt: skip
            questions = title_questions(args.requests) if args.questions == "titles" else QUESTIONS
            ingest: dict[str, object] = {}
            uploader = None
            if args.ingest_during:
                uploader = threading.Thread(
                    target=ingest_through, args=(base, args.ingest_during, ingest), daemon=True
                )
                uploader.start()
            result = run_load(base, args.clients, args.requests, args.timeout, questions, headers)
            if uploader is not None:
                uploader.join(args.timeout * 10)
                result["ingest_during"] = ingest
                if ingest.get("returncode") != 0:
                    result["errors"] = int(result["errors"]) + 1  # type: ignore[call-overload]
            result["questions"] = args.questions
            mode = httpx.get(f"{base}/readyz", timeout=5).json().get("mode")
            result |= {
                "server_peak_rss_mb": peak_rss_mb(server.pid),
                "server_ready_s": ready_s,
                "mode": mode,
                "index": str(args.index),
                "cpus": os.cpu_count(),
                "checkout": str(args.checkout),
            }
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
