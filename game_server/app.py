"""The Starlette application: HTTP routes, static web client, lifespan wiring."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gc
import io
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.driver_info import DriverInfo
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from game_server import __version__, scoring
from game_server.config import Settings
from game_server.metrics import Metrics, metrics_endpoint
from game_server.node import Node
from game_server.protocol import (
    CLOSE_CODES,
    CLOSE_UNAVAILABLE,
    MAX_CHAT_CHARS,
    MIN_ROUNDS,
    ProtocolError,
    is_room_code,
)
from game_server.rules import Stroke, utc_day
from game_server.ws import ExposeSend, websocket_endpoint

log = logging.getLogger("game_server")


_MODELS: dict[tuple[str | None, float | None], Any] = {}

# The garbage collector's generation thresholds once serving: a young collection after 10,000
# net allocations of container objects, not Python's 700. The event loop allocates futures,
# dicts and messages for every update and most die young (freed by reference counting, never
# examined), so at 700 the collector ran ~50 times a second at 512 drawing players and, through
# its older generations, held the loop for ~100 ms every ~2 s (2.4 s of collection in 25 s);
# at 10,000: 0.45 s in 25 s and p99 -30 % (docs/BENCHMARKS.md, "Garbage collection").
GC_THRESHOLDS = (10_000, 10, 10)


def _load_model(settings: Settings) -> Any | None:
    """Load the classifier (once per path, threshold and process: tests build many apps), with
    ``DOODLE_RECOGNITION_THRESHOLD`` replacing its recognition rule's threshold when set."""
    key = (settings.model_path, settings.recognition_threshold)
    if key in _MODELS:
        return _MODELS[key]
    try:
        from model import load_classifier

        clf = load_classifier(settings.model_path) if settings.model_path else load_classifier()
    except Exception:  # reported by /healthz and the log; the server still serves pages
        log.exception("model could not be loaded")
        return None
    if settings.recognition_threshold is not None:
        clf = copy.copy(clf)
        clf.rule = dataclasses.replace(clf.rule, threshold=settings.recognition_threshold)
    _MODELS[key] = clf
    return clf


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def create_room(request: Request) -> Response:
    node: Node | None = request.app.state.node
    if node is None:
        return _error(503, "unavailable", "the model is not loaded")
    try:
        await node.admit(None)
        code = await node.create_room(public=False)
    except ProtocolError as exc:  # server_busy: overloaded, and no other process can take it
        request.app.state.metrics.refused(exc.code)
        retry_ms = exc.retry_after_ms or 0
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message, "retry_after_ms": retry_ms}},
            status_code=503,
            headers={"Retry-After": str(-(-retry_ms // 1000))},
        )
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


async def client_config(request: Request) -> Response:
    """The limits, close codes and scoring rules the browser must know (docs/protocol.md)."""
    settings: Settings = request.app.state.settings
    classifier = request.app.state.classifier
    return JSONResponse(
        {
            "limits": {
                **settings.public(),
                "min_rounds": MIN_ROUNDS,
                "max_chat_chars": MAX_CHAT_CHARS,
            },
            "close_codes": {c.name: c.code for c in CLOSE_CODES},
            "scoring": {
                **scoring.public(),
                "recognition": None if classifier is None else classifier.rule.to_json(),
            },
        }
    )


_GAME_ID_RE = re.compile(r"^[0-9a-f]{12}$")
PNG_SIZE = 512


async def _finished_game(request: Request) -> dict[str, Any] | Response:
    node: Node | None = request.app.state.node
    game_id = request.path_params["game_id"]
    if not _GAME_ID_RE.match(game_id):
        return _error(404, "game_not_found", "no such game")
    if node is None:
        return _error(503, "unavailable", "the server is not ready")
    try:
        game = await node.store.load_game(game_id)
    except Exception:
        log.warning("game read failed", exc_info=True)
        return _error(503, "unavailable", "the game store is unavailable; retry")
    if game is None:
        return _error(404, "game_not_found", "no such game (or it expired)")
    return game


async def game_record(request: Request) -> Response:
    game = await _finished_game(request)
    return game if isinstance(game, Response) else JSONResponse(game)


async def drawing_image(request: Request) -> Response:
    """``/api/games/<id>/<round>/<player>.png``: one drawing of a finished game."""
    game = await _finished_game(request)
    if isinstance(game, Response):
        return game
    round_no, player = request.path_params["round"], request.path_params["player"]
    for rnd in game["rounds"]:
        for result in rnd["results"] if rnd["round"] == round_no else []:
            if result["player_id"] == player:
                return Response(drawing_png(result["strokes"]), media_type="image/png")
    return _error(404, "drawing_not_found", "no such drawing in this game")


def drawing_png(strokes: list[Stroke], size: int = PNG_SIZE) -> bytes:
    """Dark ink on white, the drawing scaled to fit a square with a margin."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    pts = [(p[0], p[1]) for s in strokes for p in s]
    if pts:
        x0, y0 = min(p[0] for p in pts), min(p[1] for p in pts)
        span = max(max(p[0] for p in pts) - x0, max(p[1] for p in pts) - y0, 1.0)
        k = size * 0.86 / span
        ox = (size - k * (max(p[0] for p in pts) - x0)) / 2
        oy = (size - k * (max(p[1] for p in pts) - y0)) / 2
        draw = ImageDraw.Draw(img)
        width = max(2, size // 64)
        for s in strokes:
            line = [(ox + k * (p[0] - x0), oy + k * (p[1] - y0)) for p in s]
            if len(line) == 1:
                line = line * 2
            draw.line(line, fill=29, width=width, joint="curve")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


async def client_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    return FileResponse(settings.web_client_dir / "index.html", media_type="text/html")


async def room_page(request: Request) -> Response:
    if not is_room_code(request.path_params["code"].upper()):
        return _error(404, "room_not_found", "no such room")
    return await client_page(request)


async def ws_route(websocket: WebSocket) -> None:
    if websocket.app.state.node is None:
        await websocket.accept()
        await websocket.send_json(
            {"type": "error", "code": "unavailable", "message": "the server is not ready"}
        )
        await websocket.close(code=CLOSE_UNAVAILABLE)
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
        "load": _load(state.node),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def _load(node: Node | None) -> dict[str, Any] | None:
    """The process's load as its overload detector last saw it (``game_server.overload``)."""
    if node is None:
        return None
    load = node.owners.load
    return {
        "overloaded": load.overloaded,
        "lag_ms": round(load.last.lag_ms),
        "full_inboxes": load.last.full_inboxes,
    }


# redis-py names itself to Redis (CLIENT SETINFO LIB-VER) on every new connection, and without
# its version given it looks the version up in the installed packages' metadata each time: a
# scan of sys.path on the event loop (0.75 ms here, more with a busy disk), paid for every
# connection the pool opens, e.g. one per room whose commands a new owner reads, when a process
# takes over the rooms of a dead one. Its own ``__version__`` says the same.
_DRIVER = DriverInfo(lib_version=redis.__version__)


def redis_pool(settings: Settings) -> aioredis.BlockingConnectionPool:
    """The process's pool of Redis connections (``settings.redis_url`` must be set)."""
    assert settings.redis_url is not None
    return aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=5,
        decode_responses=True,
        driver_info=_DRIVER,
    )


def create_app(settings: Settings, *, embedded_redis: bool = False) -> Starlette:
    """Build the app. ``settings.redis_url`` must be set (the CLI starts embedded Redis)."""
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redis = aioredis.Redis.from_pool(redis_pool(settings))
        app.state.classifier = _load_model(settings)
        app.state.node = None
        if app.state.classifier is not None:
            timed = app.state.metrics.timed_classifier(app.state.classifier)
            app.state.node = Node(settings, app.state.redis, timed)
            await app.state.node.start()
        lag = asyncio.create_task(app.state.metrics.watch_loop_lag(), name="loop-lag")
        # the model, modules and settings live as long as the process: keep them out of the
        # garbage collector's generations so that collections stay short under load
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
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
        Route("/api/config", client_config),
        *([Route("/metrics", metrics_endpoint)] if settings.metrics_enabled else []),
        Route("/api/games/{game_id}", game_record),
        Route("/api/games/{game_id}/{round:int}/{player}.png", drawing_image),
        Route("/r/{code}", room_page),
        Route("/g/{game_id}", client_page),
        WebSocketRoute("/ws", ws_route),
        Mount("/", StaticFiles(directory=settings.web_client_dir, html=True), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(ExposeSend)])
    app.state.settings = settings
    app.state.embedded_redis = embedded_redis
    app.state.node = None
    app.state.metrics = Metrics(lambda: app.state.node)
    return app
