"""A small news site on loopback for the sync tests: feeds, sitemaps, pages and faulty URLs.

Every article here is invented for the tests (the towns, people and events do not exist).
``NewsSite`` serves them from a real ``http.server`` in a thread on 127.0.0.1 with ETags,
Last-Modified and conditional GET like a real site, logs every request (path, status,
headers, time), and lets a test change, add or break any URL while it runs. A sync refuses
loopback addresses unless they are allowed (ingest/web/guard.py): the tests that sync from
these sites allow ``LOOPBACK`` (the ``fetch_loopback`` fixture, or ``FetchPolicy.allow``).
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"  # where the sites listen: NEWSRAG_FETCH_ALLOW for the tests that sync

ARTICLES = {
    "/en/valdoro-port-floods.html": {
        "lang": "en",
        "title": "Floods close the port of Valdoro for three days",
        "date": "2031-03-04",
        "text": [
            "The harbour master of Valdoro closed the port on Tuesday after the river Sarne "
            "burst its banks and flooded the container quays with brown water.",
            "Forty fishing boats were moved to the sheltered basin of Punta Gelsa, and the "
            "ferry to the island of Corvina will not sail before Friday, the port said.",
            "Engineers from the regional water board expect the level of the Sarne to fall "
            "slowly; sandbags were laid along the whole of the Via dei Cordai overnight.",
        ],
    },
    "/en/castelmora-solar-farm.html": {
        "lang": "en",
        "title": "A solar farm of glass roofs opens near Castelmora",
        "date": "2031-03-05",
        "text": [
            "Farmers near Castelmora now grow tomatoes under eleven hectares of glass roofs "
            "that also make electricity, the first such farm in the valley.",
            "The cooperative Terra Alta said the roofs will power two thousand homes, and "
            "that the shade lets the plants use a third less water in the dry summer months.",
            "The mayor, Ilaria Fenzi, called it a model for the other villages of the plain.",
        ],
    },
    "/it/borgoverde-ponte.html": {
        "lang": "it",
        "title": "Il consiglio di Borgoverde approva il nuovo ponte sul Lirano",
        "date": "2031-03-06",
        "text": [
            "Il consiglio comunale di Borgoverde ha approvato ieri sera il progetto del nuovo "
            "ponte pedonale sul torrente Lirano, atteso da oltre dieci anni.",
            "L'opera costerà quattro milioni e sarà pronta nella primavera del 2033, ha detto "
            "l'assessore Davide Morlacchi, che ha ringraziato i comitati di quartiere.",
            "I lavori cominceranno in autunno, quando il livello del torrente è più basso.",
        ],
    },
    "/it/valdoro-sciopero-treni.html": {
        "lang": "it",
        "title": "Sciopero dei treni regionali tra Valdoro e Castelmora",
        "date": "2031-03-07",
        "text": [
            "I treni regionali tra Valdoro e Castelmora si fermeranno lunedì per uno sciopero "
            "di ventiquattro ore proclamato dai macchinisti della linea della Sarne.",
            "Le corse garantite partiranno solo nelle fasce del mattino e della sera, e la "
            "società ha promesso autobus sostitutivi per gli studenti delle scuole superiori.",
            "I sindacati chiedono nuovi convogli e più personale nelle stazioni minori.",
        ],
    },
    "/en/lantern-museum.html": {
        "lang": "en",
        "title": "The Museum of Lanterns in Corvina reopens its doors",
        "date": "2031-03-08",
        "text": [
            "The Museum of Lanterns on the island of Corvina reopened on Saturday after two "
            "years of repairs to its roof, which a storm tore away in the winter of 2029.",
            "Its three hundred lanterns, some carried by the island's fishermen for a century, "
            "hang again in the old salt warehouse by the harbour.",
            "Entry is free for children and for the people of the island until the summer.",
        ],
    },
    "/it/corvina-faro.html": {
        "lang": "it",
        "title": "Il faro di Corvina torna a splendere dopo il restauro",
        "date": None,  # no date in the page: the feed's date is kept
        "text": [
            "Il vecchio faro di Corvina è tornato ad accendersi sabato sera, dopo un restauro "
            "durato diciotto mesi e pagato in parte dagli abitanti dell'isola.",
            "La lente originale, costruita nel 1890, è stata smontata, pulita e rimontata pezzo "
            "per pezzo dai tecnici della soprintendenza.",
            "Il faro si potrà visitare la domenica mattina, su prenotazione, fino a ottobre.",
        ],
    },
}


# published while a server runs (tests/integration/test_live_sync.py): not in the feeds above
LATER = {
    "/en/montegrigio-honey.html": {
        "lang": "en",
        "title": "Beekeepers of Montegrigio bring in a record honey harvest",
        "date": "2031-03-10",
        "text": [
            "The beekeepers' cooperative of Montegrigio harvested eighteen tonnes of chestnut "
            "honey this season, twice last year's figure, its president Marta Olivieri said.",
            "A mild spring and the end of a parasite that had emptied half of the hives in "
            "2029 explain the record, according to the cooperative's vet, Paolo Serni.",
            "Part of the harvest will be sold at the March fair in the square of Montegrigio.",
        ],
    },
    "/it/montegrigio-miele.html": {
        "lang": "it",
        "title": "Raccolto record di miele per gli apicoltori di Montegrigio",
        "date": "2031-03-11",
        "text": [
            "La cooperativa degli apicoltori di Montegrigio ha raccolto diciotto tonnellate di "
            "miele di castagno, il doppio dell'anno scorso, ha detto la presidente Marta "
            "Olivieri.",
            "Una primavera mite e la fine di un parassita che nel 2029 aveva svuotato metà "
            "degli alveari spiegano il record.",
        ],
    },
}


def article(path: str) -> dict:
    return ARTICLES.get(path) or LATER[path]


def page_html(path: str, base: str, *, canonical: bool = True, extra: str = "") -> bytes:
    a = article(path)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in [*a["text"], extra] if p)
    date = f'<meta property="article:published_time" content="{a["date"]}T08:00:00+01:00">'
    link = f'<link rel="canonical" href="{base}{path}">' if canonical else ""
    return (
        f'<!DOCTYPE html><html lang="{a["lang"]}"><head><meta charset="utf-8">'
        f"<title>{html.escape(a['title'])} | Gazzetta di Valdoro</title>{link}"
        f"{date if a['date'] else ''}"
        '<meta property="og:site_name" content="Gazzetta di Valdoro"></head><body>'
        '<nav><a href="/">Home</a> <a href="/it/">Italia</a> <a href="/en/">English</a></nav>'
        f"<main><article><h1>{html.escape(a['title'])}</h1>{paragraphs}</article></main>"
        "<footer>Gazzetta di Valdoro · via dei Cordai 1 · Cookie policy</footer>"
        "</body></html>"
    ).encode()


def rss(base: str, paths: list[str], *, suffix: str = "") -> bytes:
    items = "".join(
        f"<item><title>{html.escape(article(p)['title'])}</title>"
        f"<link>{base}{p}{suffix}</link><guid>{base}{p}</guid>"
        f"<pubDate>{_rfc2822(article(p)['date'] or '2031-03-09')}</pubDate></item>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Gazzetta di Valdoro</title><link>{base}/</link>"
        f"<description>Notizie</description>{items}</channel></rss>"
    ).encode()


def atom(base: str, paths: list[str]) -> bytes:
    entries = "".join(
        f"<entry><title>{html.escape(ARTICLES[p]['title'])}</title>"
        f'<link rel="alternate" href="{base}{p}"/><id>{base}{p}</id>'
        f"<updated>{ARTICLES[p]['date'] or '2031-03-09'}T09:00:00Z</updated></entry>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Gazzetta in English</title><id>{base}/atom.xml</id>"
        f"<updated>2031-03-09T09:00:00Z</updated>{entries}</feed>"
    ).encode()


def json_feed(base: str, paths: list[str]) -> bytes:
    items = [
        {"id": p, "url": f"{base}{p}", "title": ARTICLES[p]["title"],
         "date_published": f"{ARTICLES[p]['date'] or '2031-03-09'}T10:00:00+01:00"}
        for p in paths
    ]  # fmt: skip
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Gazzetta", "items": items}
    return json.dumps(feed).encode()


def sitemap(base: str, paths: list[str], lastmod: str = "2031-03-09") -> bytes:
    urls = "".join(f"<url><loc>{base}{p}</loc><lastmod>{lastmod}</lastmod></url>" for p in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


def sitemap_index(base: str, children: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{base}{c}</loc></sitemap>" for c in children)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    ).encode()


def _rfc2822(iso: str) -> str:
    t = time.mktime(time.strptime(iso + " 09:00", "%Y-%m-%d %H:%M"))
    return formatdate(t, usegmt=True)


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str | None = None  # for redirects
    delay: float = 0.0  # seconds before answering (a slow page)
    conditional: bool = True  # ETag / Last-Modified and 304s


@dataclass(frozen=True)
class Hit:
    path: str
    status: int
    at: float
    headers: dict[str, str]


@dataclass
class NewsSite:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)  # path: answer once set
    arrived: list[str] = field(default_factory=list)  # every path asked for, on arrival
    base: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> NewsSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for event in self.holds.values():
            event.set()
        self._server.shutdown()
        self._server.server_close()

    def page(self, path: str, **kwargs: object) -> None:
        self.routes[path] = Route(page_html(path, self.base, **kwargs))  # type: ignore[arg-type]

    def requests_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()
            self.arrived.clear()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        route = self.routes.get(path)
        if route is None and "?" in path:
            route = self.routes.get(path.split("?", 1)[0])
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.arrived.append(path)
        hold = self.holds.get(path)
        if hold is not None:
            hold.wait(timeout=60)  # bounded: a test that forgets to release still ends
        status = 404 if route is None else route.status
        out: dict[str, str] = {}
        body = b"<html><body><h1>Not found</h1></body></html>"
        if route is not None:
            if route.delay:
                time.sleep(route.delay)
            body = route.body
            out["Content-Type"] = route.content_type
            if route.location:
                out["Location"] = route.location
            if route.conditional and status == 200:
                tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                out["ETag"] = tag
                out["Last-Modified"] = "Sun, 09 Mar 2031 09:00:00 GMT"
                if headers.get("if-none-match") == tag:
                    status, body = 304, b""
        with self._lock:
            self.hits.append(Hit(path, status, time.monotonic(), headers))
        try:
            handler.send_response(status)
            for key, value in out.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if status != 304:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout or a size limit): as a real server sees it
