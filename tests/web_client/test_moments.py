"""Issue 14 in a real browser: the AI's paced narration, quick play that starts by itself with
a get-ready card, the game-over gallery with its replay and share link, the leaderboard by
player identity, the phone layout with the longest legal name, and the four bugs (each test
here failed before its fix)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from game_server.app import create_app
from game_server.config import Settings
from game_server.overload import Sample
from tests.web_client.conftest import DESKTOP, PHONE, Drawing
from tests.web_client.test_game import Player, screen

pytestmark = pytest.mark.browser

PACE_MS = 1200  # web_client/js/caption.js
LONG_NAME = "Alice W".ljust(Settings().max_name_length, "w")  # the longest legal name

# Every caption text with the time it appeared (performance.now()); the text already there
# when recording starts has no time.
RECORD_TIMED = """() => {
  const el = document.querySelector('#caption');
  window.timed = [[null, el.textContent]];
  new MutationObserver(() => window.timed.push([performance.now(), el.textContent]))
    .observe(el, {childList: true, characterData: true, subtree: true});
}"""

RECORD_REPLAY = """() => {
  const el = document.querySelector('#replay-caption');
  window.replayed = [];
  new MutationObserver(() => window.replayed.push(el.textContent))
    .observe(el, {childList: true, characterData: true, subtree: true});
}"""

NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


async def home(page: Page, url: str, name: str) -> None:
    await page.goto(url)
    await page.get_by_label("Your name").fill(name)


async def test_wrong_code_and_stale_link_keep_home_usable_with_our_wording(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    """Bugs 1 and 4: room_not_found left every home button disabled until a reload, and the
    server's raw "no such room" was shown."""
    async with server_factory(create_app(settings)) as srv:
        page = await new_page("ada", **DESKTOP)
        await home(page, srv.http_url + "/", "Ada")
        await page.get_by_label("Room code").fill("ZZZZZZZZ")
        await page.get_by_role("button", name="Join", exact=True).click()
        await expect(page.locator("#toasts .toast")).to_have_count(1)
        for name in ("Quick play", "Create private room"):
            await expect(page.get_by_role("button", name=name)).to_be_enabled()
        await expect(page.get_by_role("button", name="Join", exact=True)).to_be_enabled()
        toast = page.locator("#toasts .toast").last
        await expect(toast).to_have_text(re.compile(r"^There's no room with that code"))
        await expect(page.locator("#toasts")).not_to_contain_text("no such room")

        # a stale invite link: same, and the buttons work at once (no reload)
        await home(page, srv.http_url + "/r/ZZZZZZZZ", "Ada")
        await page.get_by_role("button", name="Join room").click()
        await expect(page.locator("#toasts .toast").last).to_have_text(
            re.compile(r"^There's no room with that code")
        )
        await page.get_by_role("button", name="Create private room").click()
        await expect(screen(page, "lobby")).to_be_visible()
    assert page_errors.errors == []


async def test_a_kicked_player_cannot_walk_back_in(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    """Bug 2: a kicked player could rejoin at once with the code still filled in."""
    async with server_factory(create_app(settings)) as srv:
        ada = await new_page("ada", **DESKTOP)
        bob = await new_page("bob", **PHONE)
        await home(ada, srv.http_url + "/", "Ada")
        await ada.get_by_role("button", name="Create private room").click()
        await expect(ada.locator("#lobby-code")).to_have_text(re.compile(r"^[A-Z2-9]{8}$"))
        code = (await ada.locator("#lobby-code").text_content()) or ""
        await home(bob, srv.http_url + "/", "Bob")
        await bob.get_by_label("Room code").fill(code)
        await bob.get_by_label("Room code").press("Enter")
        await expect(screen(bob, "lobby")).to_be_visible()
        await ada.get_by_role("button", name="Remove Bob").click()
        await expect(screen(bob, "home")).to_be_visible()
        await expect(bob.get_by_label("Room code")).to_have_value(code)
        await bob.get_by_role("button", name="Join", exact=True).click()
        await expect(bob.locator("#toasts .toast").last).to_have_text(
            "The host removed you from this game. You can join again once it's over."
        )
        await expect(screen(bob, "home")).to_be_visible()
        await expect(bob.get_by_role("button", name="Quick play")).to_be_enabled()
        await expect(ada.locator("#lobby-players li")).to_have_count(1)
    assert page_errors.errors == []


async def test_quick_play_starts_by_itself_narrates_and_ends_in_a_gallery(
    server_factory: Any,
    game_settings: Settings,
    drawable: dict[str, list[Drawing]],
    new_page: Any,
    page_errors: Any,
    shot: Any,
) -> None:
    """Two people with the same (longest legal) name: quick play starts without a click, a
    get-ready card, the AI's narration is paced and never asks about the prompt, a reload and
    a Clear leave the right caption, the last player recognized sees it, the gallery replays a
    drawing with the server's guess timeline, and the leaderboard keeps both people apart."""
    settings = dataclasses.replace(
        game_settings,
        autostart_players=2,
        autostart_seconds=8.0,
        restart_seconds=600.0,
        ready_seconds=8.0,
        default_rounds=1,
        default_round_seconds=40,
    )
    async with server_factory(create_app(settings)) as srv:
        ada = await new_page("ada", **DESKTOP)
        bob = await new_page("bob", **PHONE)
        for page in (ada, bob):
            await home(page, srv.http_url + "/", LONG_NAME)
            await page.get_by_role("button", name="Quick play").click()
            await expect(screen(page, "lobby")).to_be_visible()
        # --- nobody presses Start: a countdown, then the get-ready card ----------------------
        await expect(bob.locator("#autostart")).to_contain_text("The game starts in")
        assert await bob.evaluate(NO_OVERFLOW)
        await shot(bob, "lobby-autostart-phone", full_page=True)
        for page in (ada, bob):  # after the 8 s countdown
            await expect(page.locator("#ready")).to_be_visible(timeout=20_000)
        prompt = (await ada.locator("#ready-prompt").text_content()) or ""
        assert prompt in drawable
        await expect(ada.locator("#ready-sub")).to_have_text("in under 40 seconds")
        await expect(ada.locator("#pad")).to_have_class(re.compile("is-disabled"))
        await shot(ada, "ready-desktop")
        await shot(bob, "ready-phone")

        players = [Player(ada, LONG_NAME, touch=False), Player(bob, LONG_NAME, touch=True)]
        for p in players:
            await expect(p.page.locator("#ready")).to_be_hidden(timeout=20_000)
            await p.page.evaluate(RECORD_TIMED)
        # the scores stay in view on the phone while drawing (the compact strip above the pad)
        await expect(bob.locator("#scoreboard")).to_be_in_viewport()
        assert await bob.evaluate(NO_OVERFLOW)
        strokes = [await p.strokes_for(d) for p, d in zip(players, drawable[prompt], strict=True)]

        # Ada: first stroke, Clear (the caption starts over), then the whole drawing
        await ada.get_by_label("Show the AI's guesses").check()
        await players[0].draw(strokes[0][:1])
        await ada.wait_for_function("window.timed.length > 1")
        await expect(ada.locator("#belief li").first).to_be_visible()
        await shot(ada, "round-narration-desktop")
        await ada.get_by_role("button", name="Clear").click()
        await expect(ada.locator("#caption")).to_have_text("Start drawing!")
        await expect(ada.locator("#belief li")).to_have_count(0)
        # Bob: first stroke, then a reload mid-round: the caption is the AI's, not "Start drawing!"
        await players[1].draw(strokes[1][:1])
        await bob.wait_for_function("window.timed.length > 1")
        await bob.reload()
        await expect(screen(bob, "round")).to_be_visible()
        await expect(bob.locator("#caption")).not_to_have_text("Start drawing!")
        await bob.evaluate(RECORD_TIMED)
        await asyncio.gather(players[0].draw(strokes[0]), players[1].draw(strokes[1][1:]))
        for page in (ada, bob):
            await expect(screen(page, "over")).to_be_visible(timeout=60_000)

        # --- the narration: one new line per PACE_MS at most, the prompt never as a question
        for p in players:
            timed = await p.page.evaluate("window.timed")
            lines = [(t, text) for t, text in timed if not text.startswith(("Oh I know", "Sorry"))]
            lines = [(t, text) for t, text in lines if text != "Start drawing!"]
            for (t0, _), (t1, _) in itertools.pairwise([x for x in lines if x[0] is not None]):
                assert t1 - t0 >= PACE_MS - 20, lines
            asked = [text for _, text in lines if text.endswith("?")]
            assert all(re.fullmatch(r"(I see\.\.\. |or )(an? )?[\w' -]+\?", a) for a in asked)
            assert not any(a.endswith(f" {prompt}?") for a in asked), asked
            # whoever was recognized saw it before the results
            texts = [text for _, text in timed]
            assert any(t.startswith("Oh I know") for t in texts) or any(
                t.startswith("Sorry, I couldn't guess it.") for t in texts
            )

        # --- game over: the gallery, its replay and share link ------------------------------
        game_id = await ada.evaluate("window.doodle.room.gameId")
        await expect(ada.locator("#gallery-link")).to_have_value(f"{srv.http_url}/g/{game_id}")
        cards = ada.locator("#over-gallery .gallery-card")
        await expect(cards).to_have_count(2)
        assert await bob.evaluate(NO_OVERFLOW)
        await shot(ada, "over-gallery-desktop", full_page=True)
        await shot(bob, "over-gallery-phone", full_page=True)
        async with httpx.AsyncClient(base_url=srv.http_url) as http:
            game = (await http.get(f"/api/games/{game_id}")).json()
        me = await ada.evaluate("window.doodle.room.me")
        mine = next(r for r in game["rounds"][0]["results"] if r["player_id"] == me)
        expected = [e["guesses"][0]["label"] for e in mine["timeline"]]
        assert expected, "the server recorded what the AI thought"

        await ada.evaluate(RECORD_REPLAY)
        await ada.locator(f'#over-gallery li[data-player-id="{me}"] .gallery-card').click()
        dialog = ada.locator("#replay")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_have_attribute("data-state", "done", timeout=30_000)
        replayed = await ada.evaluate("window.replayed")
        guesses_shown = [
            t.rsplit("? ", 1)[0]
            for t in replayed
            if t not in ("…",) and not t.startswith(("Oh", "Sorry"))
        ]
        # the replay shows the server's timeline in order (frames may merge close entries)
        it = iter(expected)
        assert all(any(g == e for e in it) for g in guesses_shown), (guesses_shown, expected)
        assert guesses_shown[-1] == expected[-1]
        final = "Oh I know" if mine["recognized"] else "Sorry, I couldn't guess it."
        await expect(ada.locator("#replay-caption")).to_contain_text(final)
        # then the AI's verdict on the final drawing: the 28x28 image it saw, its final guesses
        seen = ada.locator("#replay-final .seen img")
        assert await seen.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [28, 28]
        await expect(ada.locator("#replay-final .bars li")).to_have_count(len(mine["guesses"]))
        png = await ada.locator("#replay-png").get_attribute("href")
        response = await ada.request.get(srv.http_url + str(png))
        assert response.headers["content-type"] == "image/png"
        await shot(ada, "replay-desktop")
        await ada.get_by_role("button", name="Close").click()

        # --- the shared link opens the gallery on its own ----------------------------------
        await bob.goto(f"{srv.http_url}/g/{game_id}")
        await expect(screen(bob, "gallery")).to_be_visible()
        await expect(bob.locator("#gallery .gallery-card")).to_have_count(2)
        await expect(bob.locator("#gallery-ranking > li")).to_have_count(2)
        assert await bob.evaluate(NO_OVERFLOW)
        await shot(bob, "gallery-phone", full_page=True)
        await bob.locator("#gallery .gallery-card").first.click()
        await expect(bob.locator("#replay")).to_have_attribute("data-state", "done", timeout=30_000)
        await shot(bob, "replay-phone")

        # --- bug 3: two people with one name are two leaderboard entries ---------------------
        scored = [r["score"] for r in game["ranking"] if r["score"] > 0]
        await ada.goto(srv.http_url + "/#leaderboard")
        rows = ada.locator("#lb-rows tr")
        await expect(rows).to_have_count(len(scored))
        await expect(rows.filter(has_text=LONG_NAME)).to_have_count(len(scored))
        # the browser knows which entry is its own (its key's digest), and says so
        ada_scored = next(r["score"] for r in game["ranking"] if r["player_id"] == me) > 0
        await expect(ada.locator("#lb-rows tr.me")).to_have_count(1 if ada_scored else 0)
        if ada_scored:
            await expect(ada.locator("#lb-rows tr.me .badge.you")).to_have_text("you")
        await bob.goto(srv.http_url + "/#leaderboard")
        await expect(bob.locator("#lb-rows tr")).to_have_count(len(scored))
        assert await bob.evaluate(NO_OVERFLOW)
        await shot(bob, "leaderboard-identity-phone", full_page=True)
    assert page_errors.errors == []


async def test_an_overloaded_server_says_so_and_home_stays_usable(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    """server_busy (admission control of an overloaded process): our wording with the wait,
    for quick play and for a new private room, and the home screen's buttons work again."""
    app = create_app(dataclasses.replace(settings, overload_calm_ms=10**9))
    async with server_factory(app) as srv:
        load = app.state.node.owners.load
        load.observe(0, Sample(lag_ms=settings.overload_enter_ms))  # stays overloaded
        page = await new_page("ada", **DESKTOP)
        await home(page, srv.http_url + "/", "Ada")
        busy = re.compile(r"The game server is full right now\. Try again in \d+ s\.")
        await page.get_by_role("button", name="Quick play").click()
        await expect(page.locator("#toasts .toast").last).to_have_text(busy)
        await expect(page.get_by_role("button", name="Create private room")).to_be_enabled()
        await page.get_by_role("button", name="Create private room").click()
        await expect(page.locator("#toasts .toast")).to_have_count(2)
        await expect(page.locator("#toasts .toast").last).to_have_text(
            re.compile("^Could not create a room: " + busy.pattern)
        )
        await expect(page.get_by_role("button", name="Quick play")).to_be_enabled()
    # the browser itself logs the refused POST /api/rooms (503); no other error
    assert [e for e in page_errors.errors if "status of 503" not in e] == []
    assert len(page_errors.errors) == 1
