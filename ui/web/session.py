"""The short-lived session a page is given, so a browser never needs an API key.

When ``NEWSRAG_API_KEYS`` are set, every route that answers or reads needs a key or a session
(ui/web/security.py). A session is what serving one of our pages hands out: the chat page and the
article pages set it as a cookie (``HttpOnly; SameSite=Strict``: scripts cannot read it and no
other site's page can send it), the widget's page carries it in a ``<meta>`` tag that its
script sends back as ``X-Newsrag-Session`` (the widget is framed by intranet pages of other
sites, where browsers drop or partition third-party cookies). It proves that the client was
served a page, behind whatever decides who may reach the pages (the SSO proxy), and no more:
it is not a person's identity, and an API key is still what a script should use.

A token is ``v1.EXPIRES.NONCE.SIGNATURE``: an HMAC-SHA256 over the rest with a server secret,
checked in constant time; nothing is stored, so every serving process that shares the secret
accepts it. The secret is ``NEWSRAG_SESSION_SECRET``, else derived from the API keys (so
replicas with the same keys agree with no more set-up, and changing the keys ends every
session), else random per process (an open server, where nothing needs a session). A token
lives ``NEWSRAG_SESSION_MINUTES``; one used past half its life is renewed in the response, so
an open chat page (its status line is redrawn every minute) or a widget in use keeps going.
Checking a token costs about 4 µs, and all of a request's identification 13 µs (measured on
the 2 busy cores here): nothing next to an answer. bench/load.py on a locked server (8 clients,
120 questions a run, runs alternated in one session): p95 4.19 s and 4.04 s on main, 3.94 s and
3.53 s with the door, 0 errors; the difference is the shared cores' noise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.config import Settings

COOKIE = "newsrag_session"
HEADER = "x-newsrag-session"
VERSION = "v1"


@dataclass(frozen=True)
class Session:
    """A valid token's contents."""

    expires: int  # epoch seconds
    nonce: str

    def renew_due(self, now: float, ttl_s: int) -> bool:
        return self.expires - now < ttl_s / 2


def session_secret(settings: Settings) -> bytes:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    keys = sorted(k.get_secret_value() for k in settings.api_keys)
    if keys:
        material = "\0".join(keys).encode()
        return hmac.new(b"newsrag session secret v1", material, hashlib.sha256).digest()
    return secrets.token_bytes(32)


class Sessions:
    """Issues and checks session tokens (see the module's docstring)."""

    def __init__(
        self, secret: bytes, ttl_s: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be greater than 0")
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self.ttl_s = ttl_s
        self._clock = clock

    @classmethod
    def for_settings(cls, settings: Settings) -> Sessions:
        return cls(session_secret(settings), settings.session_minutes * 60)

    def issue(self) -> str:
        body = f"{VERSION}.{int(self._clock()) + self.ttl_s}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def check(self, token: str | None) -> Session | None:
        """The session ``token`` carries, or None if it is missing, forged or expired."""
        if not token or len(token) > 200:
            return None
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        parts = body.split(".")
        if len(parts) != 3 or parts[0] != VERSION or not parts[1].isdigit():
            return None
        _, expires, nonce = parts
        session = Session(int(expires), nonce)
        return session if session.expires > self._clock() else None

    def renew_due(self, session: Session) -> bool:
        return session.renew_due(self._clock(), self.ttl_s)

    def cookie(self, token: str, *, secure: bool) -> str:
        """The Set-Cookie value carrying ``token``."""
        flags = "; Secure" if secure else ""
        return f"{COOKIE}={token}; Path=/; Max-Age={self.ttl_s}; HttpOnly; SameSite=Strict{flags}"

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
