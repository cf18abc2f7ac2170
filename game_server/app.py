"""The Starlette application: HTTP routes, static web client, lifespan wiring."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from game_server import __version__
from game_server.config import Settings

log = logging.getLogger("game_server")


def _load_model(settings: Settings) -> Any | None:
    try:
        from model import load_classifier

        return load_classifier(settings.model_path) if settings.model_path else load_classifier()
    except Exception:  # reported by /healthz and the log; the server still serves pages
        log.exception("model could not be loaded")
        return None


async def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    redis_ok = False
    try:
        redis_ok = bool(await state.redis.ping())
    except Exception:
        redis_ok = False
    model_ok = state.classifier is not None
    ready = redis_ok and model_ok
    body = {
        "status": "ready" if ready else "not_ready",
        "version": __version__,
        "redis": {"ready": redis_ok, "embedded": state.embedded_redis},
        "model": {"ready": model_ok},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def create_app(settings: Settings, *, embedded_redis: bool = False) -> Starlette:
    """Build the app. ``settings.redis_url`` must be set (the CLI starts embedded Redis)."""
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        app.state.classifier = _load_model(settings)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    routes = [
        Route("/healthz", healthz),
        Mount("/", StaticFiles(directory=settings.web_client_dir, html=True), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.embedded_redis = embedded_redis
    return app
