"""A "Beat the AI" game in a real browser: the host picks the mode in the lobby, Ada draws a real
drawing while Bob types in the guess box (hint, chat, a correct guess never shown), then the
turns swap; the end screen says who beat the AI; the prompts page charts the difficulty."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from game_server.app import create_app
from game_server.config import Settings
from tests.web_client.conftest import DESKTOP, Drawing
from tests.web_client.pointer import draw_with_mouse, fit_to_box, thin
from tests.web_client.test_game import screen

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


async def first_stroke(page: Page, drawing: Drawing) -> list[list[tuple[float, float]]]:
    box = await page.locator("#pad").bounding_box()
    assert box is not None
    return thin(fit_to_box(drawing, box), 2.0)[:1]


async def guess(page: Page, text: str) -> None:
    await page.locator("#guess-input").fill(text)
    await page.locator("#guess-input").press("Enter")


async def test_a_beat_the_ai_turn_with_the_guess_box(
    server_factory: Any,
    game_settings: Settings,
    drawable: dict[str, list[Drawing]],
    new_page: Any,
    page_errors: Any,
    shot: Any,
) -> None:
    async with server_factory(create_app(game_settings)) as srv:
        ada = await new_page("ada", **DESKTOP)
        bob = await new_page("bob", **DESKTOP)
        await ada.goto(srv.http_url + "/")
        await ada.get_by_label("Your name").fill("Ada")
        await ada.get_by_role("button", name="Create private room").click()
        await expect(screen(ada, "lobby")).to_be_visible()
        await bob.goto(await ada.locator("#share-link").input_value())
        await bob.get_by_label("Your name").fill("Bob")
        await bob.get_by_role("button", name="Join room").click()
        await expect(ada.locator("#lobby-players li")).to_have_count(2)

        await ada.locator("#set-mode").select_option("beat")
        await ada.locator("#set-rounds").fill("1")
        await ada.locator("#set-seconds").fill("120")
        await ada.locator("#set-seconds").press("Tab")
        await expect(bob.locator("#settings-view")).to_have_text("1 round · 120 s each")
        await expect(bob.locator("#mode-view")).to_have_text("Beat the AI · mixed prompts")
        await ada.get_by_role("button", name="Start game").click()

        # turn 1: Ada draws and sees the word; Bob sees its length and the guess box
        for page in (ada, bob):
            await expect(screen(page, "round")).to_be_visible()
            await expect(page.locator("#beat-turn")).to_have_text("Turn 1 of 2")
        word = (await ada.locator("#prompt").text_content()) or ""
        assert word in drawable
        await expect(ada.locator("#prompt-verb")).to_have_text("Draw")
        await expect(bob.locator("#prompt-verb")).to_have_text("Ada draws")
        await expect(bob.locator("#prompt")).to_have_text(" ".join(re.sub(r"\w", "_", word)))
        await expect(bob.locator("#undo")).to_be_disabled()  # only the drawer draws
        await expect(bob.locator("#guess-input")).to_have_attribute("maxlength", "100")
        # the get-ready card covers the pad until the turn's clock starts; a guesser's card
        # says who draws and shows the hint
        await expect(bob.locator("#ready-verb")).to_have_text("Ada draws:")
        await expect(bob.locator("#ready-prompt")).to_have_text(" ".join(re.sub(r"\w", "_", word)))
        await expect(ada.locator("#ready-prompt")).to_have_text(word)
        await expect(ada.locator("#ready")).to_be_hidden()
        await draw_with_mouse(ada, await first_stroke(ada, drawable[word][0]))
        # Ada's stroke reaches Bob's pad through the room's frames
        await bob.wait_for_function("window.doodle.screens.round.pad.strokes.length === 1")
        await guess(bob, XSS)  # chat is text, never HTML
        line = ada.locator("#chat-log li").last
        await expect(line).to_have_text(f"Bob: {XSS}")
        assert await ada.locator("#chat-log img").count() == 0
        await shot(bob, "beat-round-desktop")
        await guess(bob, word.upper())
        await expect(bob.locator("#chat-log")).to_contain_text("You guessed it!")
        await expect(ada.locator("#chat-log")).to_contain_text("Bob guessed it!")
        assert word.upper() not in ((await ada.locator("#chat-log").text_content()) or "")
        for page in (ada, bob):
            await expect(screen(page, "results")).to_be_visible()
            await expect(page.locator("#turn-summary")).to_have_text(
                re.compile("(Bob|You) beat the AI!")
            )
        await expect(ada.locator("#results-scores li", has_text="AI")).to_contain_text("0")

        # turn 2: Bob draws, Ada guesses; the game ends and says who beat the AI
        await expect(screen(bob, "round")).to_be_visible(timeout=20_000)
        await expect(bob.locator("#prompt-verb")).to_have_text("Draw")
        word2 = (await bob.locator("#prompt").text_content()) or ""
        await expect(ada.locator("#guess-input")).to_be_visible()
        await guess(ada, word2)
        for page in (ada, bob):
            await expect(screen(page, "over")).to_be_visible()
            await expect(page.locator("#ranking li", has_text="AI")).to_be_visible()
        await expect(ada.locator("#versus-ai li").first).to_contain_text(
            re.compile(r"beat the AI by \d+ points")
        )
        await shot(ada, "beat-over-desktop")

        # the prompts page: every prompt, hardest first; turn 1 (a drawing) counts
        await ada.goto(srv.http_url + "/#prompts")
        await expect(screen(ada, "prompts")).to_have_attribute("data-loaded", "1")
        rows = ada.locator("#prompt-chart li")
        assert await rows.count() == 87

        def row(label: str) -> Any:
            return rows.filter(has=ada.locator(f'span.label:text-is("{label}")'))

        await expect(row(word)).to_contain_text("1 round, recognized 0%")
        await expect(row(word2)).to_contain_text("not played yet")  # nobody drew in turn 2
        await shot(ada, "prompts-desktop", full_page=False)
        assert page_errors.errors == []
