"""What a route asks of its request: the app's services, settings and engine.

A leaf beside errors.py: routes and pages receive the runtime through ``request.app.state``
and never import the server module.
"""

from __future__ import annotations

from fastapi import Request

from app.services import Services
from rag.chat import Engine
from rag.config import Settings
from rag.errors import NewsragError

from .errors import unavailable


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def settings_of(request: Request) -> Settings:
    return services_of(request).settings


def engine_of(request: Request) -> Engine:
    """The engine, or a 503 that says why there is none (still loading, no index…)."""
    services = services_of(request)
    try:
        return services.engine()
    except NewsragError as err:
        raise unavailable(err, services.settings) from err
