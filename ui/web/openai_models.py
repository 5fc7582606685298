"""``GET /v1/models`` and ``GET /v1/models/{id}``: what OpenAI-compatible front ends list first.

Open WebUI, LibreChat and the like ask a server for its models before they let anyone chat,
and stopped at our 404. There is one model, ``newsrag``: the archive's answerer, whichever
answers (extractive or an LLM); ``/v1/chat/completions`` takes it (and, as before, any other
name, which it echoes). The routes sit under ``/v1`` and so pass the same checks as the chat
route (ui/web/security.py: API key, origin). An unknown id is a 404 in OpenAI's error shape, which
is also the contract's: ``{"error": {"code", "message", "type", "param"}}``.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from .present import error_json

router = APIRouter()

MODEL_ID = "newsrag"
STARTED = int(time.time())  # the model's "created": when this server process started


def model_json(model_id: str = MODEL_ID) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": "newsrag"}


@router.get("/v1/models", tags=["openai"])
async def list_models() -> dict[str, Any]:
    """OpenAI-compatible list of models: the one answerer, ``newsrag``."""
    return {"object": "list", "data": [model_json()]}


@router.get("/v1/models/{model_id:path}", tags=["openai"], response_model=None)
async def retrieve_model(model_id: str) -> dict[str, Any] | JSONResponse:
    """One model by id; 404 (``model_not_found``) for any other than ``newsrag``."""
    if model_id == MODEL_ID:
        return model_json()
    body = error_json(
        "model_not_found",
        f"The model {model_id!r} does not exist: this server has one model, {MODEL_ID!r} "
        "(GET /v1/models).",
    )
    body["error"] |= {"type": "invalid_request_error", "param": "model"}
    return JSONResponse(body, status_code=404)
