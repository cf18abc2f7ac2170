"""The Starlette application: HTTP routes, static web client, lifespan wiring."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from game_server import __version__
from game_server.config import Settings
from game_server.metrics import Metrics, metrics_endpoint
from game_server.node import Node
from game_server.protocol import is_room_code
from game_server.rules import utc_day
from game_server.ws import websocket_endpoint

log = logging.getLogger("game_server")


_MODELS: dict[str | None, Any] = {}


def _load_model(settings: Settings) -> Any | None:
    """Load the classifier (once per path and process: tests build many apps)."""
    if settings.model_path in _MODELS:
        return _MODELS[settings.model_path]
    try:
        from model import load_classifier

        clf = load_classifier(settings.model_path) if settings.model_path else load_classifier()
    except Exception:  # reported by /healthz and the log; the server still serves pages
        log.exception("model could not be loaded")
        return None
    _MODELS[settings.model_path] = clf
    return clf


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def create_room(request: Request) -> Response:
    node: Node | None = request.app.state.node
    if node is None:
        return _error(503, "unavailable", "the model is not loaded")
    try:
        code = await node.create_room(public=False)
    except Exception:
        log.warning("room creation failed", exc_info=True)
        return _error(503, "unavailable", "the game store is unavailable; retry")
    return JSONResponse({"code": code, "url": f"/r/{code}"}, status_code=201)


async def leaderboard(request: Request) -> Response:
    node: Node | None = request.app.state.node
    period = request.query_params.get("period", "all")
    if period not in ("all", "today"):
        return _error(400, "bad_request", "period must be 'all' or 'today'")
    raw_limit = request.query_params.get("limit", "10")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        return _error(400, "bad_request", "limit must be an integer in 1..100")
    if node is None:
        return _error(503, "unavailable", "the server is not ready")
    try:
        entries = await node.store.leaderboard(period, utc_day(node.clock.now_ms()), int(raw_limit))
    except Exception:
        log.warning("leaderboard read failed", exc_info=True)
        return _error(503, "unavailable", "the game store is unavailable; retry")
    return JSONResponse({"period": period, "entries": entries})


async def prompts(request: Request) -> Response:
    """Prompt difficulty learned from play (difficulty.table), hardest first."""
    node: Node | None = request.app.state.node
    if node is None:
        return _error(503, "unavailable", "the server is not ready")
    try:
        rows = await node.owners.prompts.table()
    except Exception:
        log.warning("prompt stats read failed", exc_info=True)
        return _error(503, "unavailable", "the game store is unavailable; retry")
    return JSONResponse({"prompts": rows})


async def room_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not is_room_code(request.path_params["code"].upper()):
        return _error(404, "room_not_found", "no such room")
    return FileResponse(settings.web_client_dir / "index.html", media_type="text/html")


async def ws_route(websocket: WebSocket) -> None:
    if websocket.app.state.node is None:
        await websocket.accept()
        await websocket.send_json(
            {"type": "error", "code": "unavailable", "message": "the server is not ready"}
        )
        await websocket.close(code=1011)
        return
    await websocket_endpoint(websocket)


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
        "process": state.node.proc_id if state.node is not None else None,
        "owned_rooms": sorted(state.node.owners.actors) if state.node is not None else [],
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def create_app(settings: Settings, *, embedded_redis: bool = False) -> Starlette:
    """Build the app. ``settings.redis_url`` must be set (the CLI starts embedded Redis)."""
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=5,
            decode_responses=True,
        )
        app.state.redis = aioredis.Redis.from_pool(pool)
        app.state.classifier = _load_model(settings)
        app.state.node = None
        if app.state.classifier is not None:
            timed = app.state.metrics.timed_classifier(app.state.classifier)
            app.state.node = Node(settings, app.state.redis, timed)
            await app.state.node.start()
        lag = asyncio.create_task(app.state.metrics.watch_loop_lag(), name="loop-lag")
        try:
            yield
        finally:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
            node = app.state.node
            if node is not None:
                for sock in node.hub.sockets():
                    await sock.close_for_shutdown()  # type: ignore[attr-defined]
                await node.close()
            await app.state.redis.aclose()

    routes = [
        Route("/healthz", healthz),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/api/leaderboard", leaderboard),
        Route("/api/prompts", prompts),
        *([Route("/metrics", metrics_endpoint)] if settings.metrics_enabled else []),
        Route("/r/{code}", room_page),
        WebSocketRoute("/ws", ws_route),
        Mount("/", StaticFiles(directory=settings.web_client_dir, html=True), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.embedded_redis = embedded_redis
    app.state.node = None
    app.state.metrics = Metrics(lambda: app.state.node)
    return app
