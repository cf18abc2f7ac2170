"""Fixtures of the browser tests: Debian's headless Chromium, a real game server, and real
Quick, Draw! drawings that the shipped model recognizes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)

from game_server.config import Settings
from game_server.harness import serve_app
from tests.quickdraw import PointStroke, model_drawing, point_strokes, raw_drawings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web_client"

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

Drawing = list[PointStroke]


@pytest.fixture(scope="session")
def drawable() -> dict[str, list[Drawing]]:
    """label -> two real raw drawings that the shipped model recognizes when finished (its
    recognition rule, ``clf.recognizes``) but not from their first stroke alone, so that the
    AI's caption visibly changes while they are drawn."""
    from model import load_classifier

    clf = load_classifier()
    labels = list(clf.labels)
    out: dict[str, list[Drawing]] = {}
    for label in sorted(labels):
        candidates = [point_strokes(r) for r in raw_drawings(label) if r.get("recognized", True)]
        candidates = [c for c in candidates if len(c) >= 2 and sum(map(len, c)) <= 600]
        if len(candidates) < 2:
            continue
        full = clf.predict([model_drawing(c) for c in candidates])
        first = clf.predict([model_drawing(c[:1]) for c in candidates])
        i = labels.index(label)
        good = [
            c
            for c, f, p in zip(candidates, full, first, strict=True)
            if clf.recognizes(f, label) and float(p[i]) < 0.15
        ]
        if len(good) >= 2:
            out[label] = good[:2]
        if len(out) >= 8:
            break
    assert len(out) >= 4, f"the model recognizes too few raw drawings: {sorted(out)}"
    return out


@pytest.fixture
def game_settings(settings: Settings, drawable: dict[str, list[Drawing]]) -> Settings:
    """Prompts dealt only from labels we hold recognizable drawings of; a short intermission."""
    return dataclasses.replace(settings, prompts=tuple(sorted(drawable)), intermission_seconds=6.0)


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    """Auto-waiting assertions wait up to 10 s (a busy 2-core CI machine runs the server, the
    model and two browsers at once); nothing here sleeps."""
    expect.set_options(timeout=10_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile for every context."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


class PageErrors:
    """Uncaught exceptions and console errors of every page opened through ``new_page``."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._stopped = False

    def stop(self) -> None:
        """The test's server is stopping: later errors are not the test's."""
        self._stopped = True

    def _add(self, error: str) -> None:
        if not self._stopped:
            self.errors.append(error)

    def watch(self, page: Page, who: str) -> Page:
        page.on("pageerror", lambda exc: self._add(f"{who}: uncaught {exc}"))

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self._add(f"{who}: console.error {msg.text}")

        page.on("console", on_console)
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def server_factory(page_errors: PageErrors) -> Callable[..., Any]:
    """``async with server_factory(app) as srv:`` runs a real uvicorn server. From the moment it
    starts stopping, what the pages log is no longer the test's: a page still open sees the
    server go away (close 1012), reconnects and logs the refused connection."""

    @contextlib.asynccontextmanager
    async def serve(app: Any) -> AsyncIterator[Any]:
        async with serve_app(app) as srv:
            try:
                yield srv
            finally:
                page_errors.stop()

    return serve


@pytest.fixture
def new_page(browser: Browser, page_errors: PageErrors) -> Callable[..., Any]:
    """``await new_page("ada", **context_options)``: a page in its own browser context."""
    contexts: list[BrowserContext] = []

    async def make(who: str, **options: Any) -> Page:
        context = await browser.new_context(**options)
        contexts.append(context)
        return page_errors.watch(await context.new_page(), who)

    return make


@pytest.fixture
def shot() -> Callable[..., Any]:
    """``await shot(page, "round-desktop")`` saves a PNG into test-artifacts/web_client/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str, full_page: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return take
