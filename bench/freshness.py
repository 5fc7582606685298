"""Freshness lag: from an article's publication to the first answer citing it, with a real
`newsrag serve` keeping the archive current from a feed by itself.

    python bench/freshness.py [--runs 3] [--every 1m] [--seed 11] [--model multilingual-e5-small]

Prints one JSON object. The loopback news site of tests/web_site.py serves a feed of two
articles; `newsrag sources add FEED --every EVERY` on a new index, then `newsrag serve` (the
real model, the background sync on by default) creates and fills it. Then, ``--runs`` times,
at a seeded random moment of the source's interval, the site publishes one more article (its
page, and the feed lists it) and the bench asks `POST /api/ask` about it every
ASK_EVERY_S once the server has read the changed feed, until an answer cites it:

- ``lag_s``: publication to that answer; ``due_wait_s``: publication to the server's request
  for the changed feed (the schedule's share, up to the interval); ``sync_to_answer_s``: the
  rest (the pages fetched, embedded, stored, the lexical refresh, and the answer).
- the baseline, in the same run: one more article synced at once on demand (`POST
  /api/admin/sync` right after publication), i.e. what the lag is without the schedule's wait.
  ``expected_lag_s`` = interval / 2 + the mean ``sync_to_answer_s``: the mean lag for
  articles published at any moment.

Everything listens on 127.0.0.1; each wait is bounded (BOUND_S past the interval).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEY = "bench-freshness-key"
START = ["/it/borgoverde-ponte.html", "/en/valdoro-port-floods.html"]
# published one per run, in this order, each with a question only it answers
PUBLISHED = [
    ("/en/castelmora-solar-farm.html", "How large are the glass roofs near Castelmora?"),
    ("/en/montegrigio-honey.html", "Who said the Montegrigio honey harvest was a record?"),
    ("/en/lantern-museum.html", "When did the Museum of Lanterns on Corvina reopen?"),
    ("/it/valdoro-sciopero-treni.html", "Chi ha proclamato lo sciopero dei treni di Valdoro?"),
]  # fmt: skip
ON_DEMAND = ("/it/corvina-faro.html", "Quanto è durato il restauro del faro di Corvina?")
ASK_EVERY_S = 0.5
BOUND_S = 180.0  # past the interval: the sync and the answer, on 2 busy cores
READY_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, choices=range(1, len(PUBLISHED) + 1))
    parser.add_argument("--every", default="1m", help="the source's interval (1m at least)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default="multilingual-e5-small")
    args = parser.parse_args()

    from ingest.registry import parse_every
    from tests.llm_server import free_port
    from tests.web_site import LOOPBACK, NewsSite, Route, rss

    every_s = parse_every(args.every)
    rng = random.Random(args.seed)
    site = NewsSite().start()
    for path in [*START, *(p for p, _ in PUBLISHED), ON_DEMAND[0]]:
        site.page(path)
    site.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    listed = list(START)

    def publish(path: str) -> float:
        listed.insert(0, path)
        site.routes["/rss.xml"] = Route(rss(site.base, listed), "application/rss+xml")
        return time.monotonic()

    site.routes["/rss.xml"] = Route(rss(site.base, listed), "application/rss+xml")
    feed = site.base + "/rss.xml"
    out: dict[str, object] = {"model": args.model, "every_s": every_s, "seed": args.seed}
    env = {
        **os.environ, "NEWSRAG_EMBEDDING_MODEL": args.model, "NEWSRAG_ADMIN_KEYS": KEY,
        "NEWSRAG_RATE_LIMIT_PER_MINUTE": "0", "NEWSRAG_FETCH_HOST_DELAY": "0",
        "NEWSRAG_FETCH_ALLOW": LOOPBACK,  # the site is on loopback: refused unless allowed
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        cli = [sys.executable, "-m", "ui.cli"]
        subprocess.run([*cli, "sources", "add", feed, "--every", args.every, "--name",
                        "gazzetta", "--index", str(index)], cwd=REPO, env=env, check=True,
                       capture_output=True)  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "serve.log"
        started = time.monotonic()
        proc = subprocess.Popen(
            [*cli, "serve", "--index", str(index), "--port", str(port)], cwd=REPO, env=env,
            stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            http = httpx.Client(base_url=url, timeout=120)
            wait_for(
                lambda: _status(http).get("articles") == len(START), READY_S, "the first sync", log
            )
            out["serve_to_first_sync_s"] = round(time.monotonic() - started, 2)
            runs = []
            for path, question in PUBLISHED[: args.runs]:
                last = _source(http)["last_sync_at"]
                offset = rng.uniform(0, every_s)  # a moment of the interval, from its sync
                time.sleep(max(0.0, offset - (time.time() - _epoch(last))))
                site.clear()
                published = publish(path)
                read = wait_for(
                    lambda: next((h for h in site.requests_for("/rss.xml") if h.status == 200),
                                 None),
                    every_s + BOUND_S, f"the feed read after publishing {path}", log,
                )  # fmt: skip
                answered, cited = ask_until_cited(http, question, site.base + path)
                run: dict[str, Any] = {"article": path,
                                       "published_at_s_of_interval": round(offset, 1),
                                       "due_wait_s": round(read.at - published, 2)}  # fmt: skip
                if answered is None:  # kept in the figures as a failure, never dropped
                    run |= {"cited": False, "last_citations": sorted(cited)}
                else:
                    run |= {"cited": True, "lag_s": round(answered - published, 2),
                            "sync_to_answer_s": round(answered - read.at, 2)}  # fmt: skip
                runs.append(run)
            out["background"] = runs
            path, question = ON_DEMAND
            published = publish(path)
            synced = http.post("/api/admin/sync", json={"names": ["gazzetta"]},
                               headers={"X-API-Key": KEY}, timeout=BOUND_S)  # fmt: skip
            synced.raise_for_status()
            answered, cited = ask_until_cited(http, question, site.base + path)
            out["on_demand"] = {
                "article": path, "cited": answered is not None,
                "lag_s": round(answered - published, 2) if answered else None,
                "sync_s": synced.json()["seconds"], "added": synced.json()["added"],
            }  # fmt: skip
            lags = [r["lag_s"] for r in runs if r["cited"]]
            rest = [r["sync_to_answer_s"] for r in runs if r["cited"]]
            out["summary"] = {
                "runs": len(runs), "cited": len(lags),
                "lag_s_min": min(lags, default=None),
                "lag_s_median": statistics.median(lags) if lags else None,
                "lag_s_max": max(lags, default=None),
                "sync_to_answer_s_mean": round(statistics.mean(rest), 2) if rest else None,
                "expected_lag_s": round(every_s / 2 + statistics.mean(rest), 1) if rest else None,
            }  # fmt: skip
            out["status"] = {k: v for k, v in _status(http).items() if k in ("articles", "chunks")}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    site.stop()
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


def ask_until_cited(http: httpx.Client, question: str, article: str) -> tuple[float | None, set]:
    """When the first answer citing ``article`` came (None: not within BOUND_S), and the last
    answer's citations."""
    deadline = time.monotonic() + BOUND_S
    cited: set[str] = set()
    while time.monotonic() < deadline:
        got = http.post("/api/ask", json={"question": question})
        got.raise_for_status()
        cited = {c["article_id"] for c in got.json()["citations"]}
        if article in cited:
            return time.monotonic(), cited
        time.sleep(ASK_EVERY_S)
    return None, cited


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        time.sleep(0.25)
    raise SystemExit(f"{what}: not within {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


def _status(http: httpx.Client) -> dict:
    got = http.get("/api/status")
    return got.json() if got.status_code == 200 else {}


def _source(http: httpx.Client) -> dict:
    [source] = _status(http)["sources"]
    return source


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


if __name__ == "__main__":
    main()
