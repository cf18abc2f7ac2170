"""The lobby in a real browser: quick play, join by code, spectators, reload-resume,
host hand-over and kick."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from game_server.app import create_app
from game_server.config import Settings
from tests.web_client.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def screen(page: Page, name: str) -> Any:
    return page.locator(f'main > [data-screen="{name}"]')


async def test_quick_play_code_spectator_resume_handover_and_kick(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    # this public room must not start a game by itself while the lobby is tested
    settings = dataclasses.replace(settings, autostart_players=0)
    async with server_factory(create_app(settings)) as srv:
        ada = await new_page("ada", **DESKTOP)
        bob = await new_page("bob", **PHONE)
        eve = await new_page("eve", **DESKTOP)

        # Ada: quick play puts her in a public room as its host.
        await ada.goto(srv.http_url + "/")
        await ada.get_by_label("Your name").fill("Ada")
        await ada.get_by_role("button", name="Quick play").click()
        await expect(screen(ada, "lobby")).to_be_visible()
        code = (await ada.locator("#lobby-code").text_content()) or ""
        assert re.fullmatch(r"[A-Z2-9]{8}", code)
        await expect(ada.locator("#start")).to_be_visible()

        # Bob: types the code (lower case) on the home screen.
        await bob.goto(srv.http_url + "/")
        await bob.get_by_label("Your name").fill("Bob")
        await bob.get_by_label("Room code").fill(code.lower())
        await bob.get_by_label("Room code").press("Enter")
        await expect(screen(bob, "lobby")).to_be_visible()
        await expect(bob.locator("#lobby-code")).to_have_text(code)

        # Eve: joins by code just to watch.
        await eve.goto(srv.http_url + "/")
        await eve.get_by_label("Your name").fill("Eve")
        await eve.get_by_label("Room code").fill(code)
        await eve.get_by_label("Just watch").check()
        await eve.get_by_role("button", name="Join", exact=True).click()
        await expect(screen(eve, "lobby")).to_be_visible()
        for page in (ada, bob, eve):
            await expect(page.locator("#lobby-players li")).to_have_count(2)
            await expect(page.locator("#lobby-spectators li")).to_have_text([re.compile("Eve")])

        # Bob reloads: the resume token in sessionStorage brings him back to his seat.
        bob_id = await bob.evaluate("window.doodle.room.me")
        await bob.reload()
        await expect(screen(bob, "lobby")).to_be_visible()
        assert await bob.evaluate("window.doodle.room.me") == bob_id
        await expect(ada.locator("#lobby-players li")).to_have_count(2)

        # The host leaves: Bob becomes host, and everyone sees it.
        await ada.get_by_role("button", name="Leave").click()
        await expect(screen(ada, "home")).to_be_visible()
        assert ada.url == srv.http_url + "/"
        await expect(bob.locator("#host-note")).to_have_text("You are the host now.")
        await expect(eve.locator("#host-note")).to_have_text("Bob is the host now.")
        bob_row = eve.locator("#lobby-players li", has_text="Bob")
        await expect(bob_row.locator(".badge.host")).to_be_visible()
        await expect(bob.locator("#start")).to_be_visible()
        await expect(bob.locator("#settings-form")).to_be_visible()
        await expect(eve.locator("#settings-form")).to_be_hidden()

        # The new host removes the spectator, who lands on the home screen and is told why.
        await bob.get_by_role("button", name="Remove Eve").click()
        await expect(screen(eve, "home")).to_be_visible()
        await expect(eve.locator("#toasts")).to_contain_text("The host removed you")
        await expect(bob.locator("#lobby-spectators li")).to_have_count(0)

        # A link to a room that does not exist ends on the home screen with a message.
        await ada.goto(srv.http_url + "/r/ZZZZZZZZ")
        await ada.get_by_role("button", name="Join room").click()
        await expect(ada.locator("#toasts")).to_contain_text(re.compile("room", re.I))
        await expect(screen(ada, "home")).to_be_visible()

    assert page_errors.errors == []
