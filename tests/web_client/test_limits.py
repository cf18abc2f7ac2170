"""The browser takes the server's limits from GET /api/config instead of hardcoding them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from playwright.async_api import expect

from game_server.app import create_app
from game_server.config import Settings
from tests.web_client.conftest import DESKTOP

pytestmark = pytest.mark.browser


async def test_the_client_follows_the_servers_configured_limits(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    s = replace(
        settings, max_name_length=8, max_rounds=3, min_round_seconds=10, max_round_seconds=30
    )
    async with server_factory(create_app(s)) as srv:
        page = await new_page("limits", **DESKTOP)
        await page.goto(srv.http_url + "/")
        name = page.get_by_label("Your name")
        await expect(name).to_have_attribute("maxlength", "8")

        # A name one character over the server's limit is refused before it is sent.
        await name.evaluate("(el) => { el.value = 'Ninechars'; }")
        await page.get_by_role("button", name="Quick play").click()
        await expect(page.locator("#name-error")).to_have_text(
            "Names use letters, digits, spaces and _ - . ' (up to 8)."
        )
        await expect(page.locator('main > [data-screen="home"]')).to_be_visible()

        await name.fill("Eightchr")
        await page.get_by_role("button", name="Quick play").click()
        await expect(page.locator('main > [data-screen="lobby"]')).to_be_visible()
        for field, low, high in (("#set-rounds", "1", "3"), ("#set-seconds", "10", "30")):
            await expect(page.locator(field)).to_have_attribute("min", low)
            await expect(page.locator(field)).to_have_attribute("max", high)
        closes = await page.evaluate("Object.fromEntries(window.doodle.closeNames)")
        assert closes["4001"] == "kicked" and closes["1008"] == "policy"
    assert page_errors.errors == []
