"""A whole game in a real browser: two players (a desktop with a mouse, a phone with touch)
play through the web client against the real server, the real Redis and the shipped model."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from game_server.app import create_app
from game_server.config import Settings
from tests.web_client.conftest import DESKTOP, PHONE, Drawing
from tests.web_client.pointer import draw_with_mouse, draw_with_touch, fit_to_box, thin

pytestmark = pytest.mark.browser

ROUND_SECONDS = 30

# Records every text the AI caption shows, so a test can tell it changed while drawing
# even when a later text replaced it before an assertion looked.
RECORD_CAPTIONS = """() => {
  const el = document.querySelector('#caption');
  window.captions = [el.textContent];
  new MutationObserver(() => window.captions.push(el.textContent))
    .observe(el, {childList: true, characterData: true, subtree: true});
}"""


def screen(page: Page, name: str) -> Any:
    return page.locator(f'main > [data-screen="{name}"]')


ROUND_SCREEN_UP = "!document.querySelector('main > [data-screen=\"round\"]').hidden"


class Player:
    """One browser tab in the game, drawing with the mouse or with a finger."""

    def __init__(self, page: Page, name: str, touch: bool) -> None:
        self.page = page
        self.name = name
        self.touch = touch
        self.cdp: Any = None

    async def strokes_for(self, drawing: Drawing) -> list[list[tuple[float, float]]]:
        box = await self.page.locator("#pad").bounding_box()
        assert box is not None
        # Touch events arrive once per frame: fewer points keep the replay short.
        return thin(fit_to_box(drawing, box), 7.0 if self.touch else 2.0)

    async def draw(self, strokes: list[list[tuple[float, float]]]) -> None:
        """Replay strokes one by one while the round screen is up: like a person, stop once
        the round is over (the next screen's buttons sit where the canvas was)."""
        for stroke in strokes:
            if not await self.page.evaluate(ROUND_SCREEN_UP):
                return
            if self.touch:
                if self.cdp is None:
                    self.cdp = await self.page.context.new_cdp_session(self.page)
                await draw_with_touch(self.cdp, [stroke])
            else:
                await draw_with_mouse(self.page, [stroke])


async def play_round(players: list[Player], drawings: list[Drawing], shots: Any = None) -> None:
    """Both draw their first stroke, the caption must react, then they finish their drawings."""
    for p in players:
        await p.page.evaluate(RECORD_CAPTIONS)
        # the get-ready card covers the pad until the round's clock starts
        await expect(p.page.locator("#ready")).to_be_hidden()
    strokes = [await p.strokes_for(d) for p, d in zip(players, drawings, strict=True)]
    await asyncio.gather(*(p.draw(s[:1]) for p, s in zip(players, strokes, strict=True)))
    for p in players:
        # The AI speaks up while the drawing is still unfinished ("I see... X?" or "Hmm...").
        await p.page.wait_for_function(
            "window.captions.some(t => t.startsWith('I see... ') || t === 'Hmm...')"
        )
        # ... and the other player's first stroke shows up live in their tile with a guess.
        other = next(o for o in players if o is not p)
        tile = p.page.locator("#tiles .tile", has_text=other.name)
        await expect(tile.locator(".tile-guess")).to_have_text(re.compile(r"\?\s\d+%|✓|Hmm…"))
    if shots:
        await shots()
    await asyncio.gather(*(p.draw(s[1:]) for p, s in zip(players, strokes, strict=True)))


async def test_two_players_play_a_whole_game(
    server_factory: Any,
    game_settings: Settings,
    drawable: dict[str, list[Drawing]],
    new_page: Any,
    page_errors: Any,
    shot: Any,
) -> None:
    async with server_factory(create_app(game_settings)) as srv:
        ada = await new_page("ada", **DESKTOP)
        bob = await new_page("bob", **PHONE)

        # --- home: Ada creates a private room ----------------------------------------------
        await ada.goto(srv.http_url + "/")
        await expect(screen(ada, "home")).to_be_visible()
        await shot(ada, "home-desktop")
        await ada.get_by_label("Your name").fill("Ada")
        await ada.get_by_role("button", name="Create private room").click()
        await expect(screen(ada, "lobby")).to_be_visible()
        link = await ada.locator("#share-link").input_value()
        code = (await ada.locator("#lobby-code").text_content()) or ""
        assert link == f"{srv.http_url}/r/{code}"
        assert ada.url == link  # the address bar holds the room, so a reload resumes

        # --- Bob opens the shared link on his phone ----------------------------------------
        await bob.goto(link)
        await expect(bob.locator("#invite")).to_contain_text(code)
        await bob.get_by_label("Your name").fill("Bob")
        await shot(bob, "home-invite-phone")
        await bob.get_by_role("button", name="Join room").click()
        await expect(screen(bob, "lobby")).to_be_visible()
        for page in (ada, bob):
            players = page.locator("#lobby-players li")
            await expect(players).to_have_count(2)
            await expect(players.filter(has_text="Ada").locator(".badge.host")).to_be_visible()
        await expect(bob.locator("#start")).to_be_hidden()
        await expect(bob.locator("#waiting")).to_have_text("Waiting for Ada to start the game…")

        # --- the host's settings reach everyone ------------------------------------------
        await ada.get_by_label("Rounds").fill("2")
        await ada.get_by_label("Seconds per round").fill(str(ROUND_SECONDS))
        await ada.get_by_label("Seconds per round").press("Enter")
        await expect(bob.locator("#settings-view")).to_have_text(
            f"2 rounds · {ROUND_SECONDS} s each"
        )
        await shot(ada, "lobby-desktop")
        await shot(bob, "lobby-phone", full_page=True)

        # --- round 1 -----------------------------------------------------------------------
        await ada.get_by_role("button", name="Start game").click()
        players = [Player(ada, "Ada", touch=False), Player(bob, "Bob", touch=True)]
        for page in (ada, bob):
            await expect(screen(page, "round")).to_be_visible()
            await expect(page.locator("#round-no")).to_have_text("Round 1 of 2")
            await expect(page.locator("#timer")).to_have_text(re.compile(r"^0:[0-3]\d$"))
        prompt1 = (await ada.locator("#prompt").text_content()) or ""
        await expect(bob.locator("#prompt")).to_have_text(prompt1)
        assert prompt1 in drawable

        async def round_shots() -> None:
            await shot(ada, "round-desktop")
            await shot(bob, "round-phone", full_page=True)

        await play_round(players, drawable[prompt1], round_shots)

        # At least one is recognized: the AI says so, the round ends, results show it.
        results_timeout = (ROUND_SECONDS + 15) * 1000
        for page in (ada, bob):
            await expect(screen(page, "results")).to_be_visible(timeout=results_timeout)
            await expect(page.locator("#results-title")).to_have_text(f"Round 1 of 2: {prompt1}")
        cards = ada.locator("#result-cards > li")
        await expect(cards).to_have_count(2)
        recognized = cards.filter(has=ada.locator(".verdict.yes"))
        assert await recognized.count() >= 1
        for i in range(2):
            card = cards.nth(i)
            # What the AI saw: the 28x28 image, scaled up; its top guesses as bars.
            img = card.locator(".seen img")
            await expect(img).to_be_visible()
            assert await img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [28, 28]
            await expect(card.locator(".bars li").first).to_be_visible()
        round1 = await scores_from_results(ada)
        assert set(round1) == {"Ada", "Bob"} and max(round1.values()) > 0
        for name, points in round1.items():
            await expect(
                ada.locator("#result-cards > li", has_text=name).locator(".result-points")
            ).to_have_text(f"+{points}")
        # Whoever was recognized heard "Oh I know, it's ..." while drawing.
        for p in players:
            if round1[p.name] > 0:
                assert any(
                    t.startswith("Oh I know, it's")
                    for t in await p.page.evaluate("window.captions")
                )
        await shot(ada, "results-desktop", full_page=True)
        await shot(bob, "results-phone", full_page=True)

        # --- round 2, with a dropped connection on the phone ----------------------------------
        for page in (ada, bob):
            await expect(screen(page, "round")).to_be_visible(timeout=30_000)
            await expect(page.locator("#round-no")).to_have_text("Round 2 of 2")
        prompt2 = (await ada.locator("#prompt").text_content()) or ""
        assert prompt2 != prompt1 and prompt2 in drawable

        bob_id = await bob.evaluate("window.doodle.room.me")
        await bob.evaluate("window.doodle.socket.drop()")
        await expect(bob.locator("#conn")).to_contain_text("Reconnecting")
        await expect(bob.locator("#conn")).to_be_hidden()
        await expect(screen(bob, "round")).to_be_visible()
        assert await bob.evaluate("window.doodle.room.me") == bob_id  # same seat, resumed
        await expect(ada.locator("#tiles .tile", has_text="Bob")).not_to_have_class(
            re.compile("away")
        )

        await play_round(players, drawable[prompt2])
        for page in (ada, bob):
            await expect(screen(page, "over")).to_be_visible(timeout=results_timeout + 10_000)
        round2 = await scores_from_results(ada, "#over-results")

        # --- game over: the ranking adds up both rounds ------------------------------------
        totals = {n: round1[n] + round2[n] for n in ("Ada", "Bob")}
        for page in (ada, bob):
            rows = page.locator("#ranking > li")
            await expect(rows).to_have_count(2)
            for name, total in totals.items():
                await expect(rows.filter(has_text=name).locator(".score")).to_have_text(str(total))
        await expect(ada.get_by_role("button", name="Play again")).to_be_visible()
        await expect(bob.get_by_role("button", name="Play again")).to_be_hidden()
        await shot(ada, "over-desktop", full_page=True)
        await shot(bob, "over-phone", full_page=True)

        # --- leaderboard: all time and today ----------------------------------------------
        for page, tag in ((ada, "desktop"), (bob, "phone")):
            await page.get_by_role("link", name="Leaderboard").first.click()
            await expect(screen(page, "leaderboard")).to_be_visible()
            for tab in ("All time", "Today"):
                await page.get_by_role("tab", name=tab).click()
                await expect(page.get_by_role("tab", name=tab)).to_have_attribute(
                    "aria-selected", "true"
                )
                rows = page.locator("#lb-rows tr")
                await expect(rows).to_have_count(2)
                for name, total in totals.items():
                    await expect(rows.filter(has_text=name).locator("td.num")).to_have_text(
                        str(total)
                    )
            await shot(page, f"leaderboard-{tag}", full_page=tag == "phone")

        # --- back to the room, and the host starts over ------------------------------------
        for page in (ada, bob):
            await page.get_by_role("link", name="Back").click()
            await expect(screen(page, "over")).to_be_visible()
        await ada.get_by_role("button", name="Play again").click()
        for page in (ada, bob):
            await expect(screen(page, "lobby")).to_be_visible()

    assert page_errors.errors == []


async def scores_from_results(page: Page, list_selector: str = "#result-cards") -> dict[str, int]:
    """name -> points of the round, read from the result cards."""
    cards = page.locator(f"{list_selector} > li")
    out = {}
    for i in range(await cards.count()):
        name = await cards.nth(i).locator(".result-name").text_content()
        points = await cards.nth(i).locator(".result-points").text_content()
        out[str(name)] = int(str(points).lstrip("+"))
    return out
