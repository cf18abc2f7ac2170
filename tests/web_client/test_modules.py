"""The client's small modules, checked in the real browser they run in (no build step, so the
files the server serves are the files under test)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from game_server.app import create_app
from game_server.config import Settings
from tests.web_client.conftest import DESKTOP

pytestmark = pytest.mark.browser

PURE_CHECKS = """async () => {
  const {Narrator, withArticle} = await import('/js/caption.js');
  const {ServerClock, formatCountdown} = await import('/js/clock.js');
  const {backoffDelay} = await import('/js/socket.js');
  const {cleanName} = await import('/js/session.js');
  const {h} = await import('/js/dom.js');
  const {emptyRoom, applyMessage} = await import('/js/state.js');
  const {viewBox} = await import('/js/ink.js');
  const {roomCodeFromPath} = await import('/js/router.js');

  const n = new Narrator();
  const caption = [];
  const say = (list) => { n.guesses(list); caption.push(n.text); };
  say([{label: 'dog', p: 0.02}]);             // too unsure to say anything
  say([{label: 'dog', p: 0.2}]);
  say([{label: 'cat', p: 0.3}]);
  say([{label: 'dog', p: 0.3}]);              // still on screen: no repeat
  say([{label: 'cow', p: 0.3}]);
  say([{label: 'owl', p: 0.3}]);              // only the last three stay
  n.recognized('owl'); caption.push(n.text);
  say([{label: 'bee', p: 0.9}]);              // done: nothing more

  const clock = new ServerClock(() => 1000);
  clock.sample(6000);                          // the server is 5 s ahead

  const {expandFrame} = await import('/js/protocol.js');
  const {defaultSocketUrl} = await import('/js/socket.js');
  const room = emptyRoom();
  const frame = {type: 'frame', ink: {p2: [
    {op: 'points', stroke: 0, points: [[1, 1, 0]]},
    {op: 'points', stroke: 0, points: [[2, 2, 5]]},
    {op: 'points', stroke: 1, points: [[3, 3, 9]]},
    {op: 'points', stroke: 5, points: [[9, 9, 9]]},   // out of order: ignored
    {op: 'undo'},
  ]}, guesses: {p2: {seq: 4, guesses: [{label: 'cat', p: 0.5}]}}};
  for (const m of expandFrame(frame)) applyMessage(room, m);

  return {
    caption,
    phrase: n.phrase,
    articles: ['apple', 'cat', 'The Eiffel Tower', 'flip flops', 'wine glass'].map(withArticle),
    countdown: [0, 200, 1000, 65000].map(formatCountdown),
    remaining: clock.remaining(16000),
    backoff: [1, 2, 3, 4, 5, 6, 9].map((a) => backoffDelay(a, () => 0.5)),
    names: [
      ...['  Ada  Lovelace ', "O'Neil-2", '<b>x</b>', 'x'.repeat(25), '']
        .map((n) => cleanName(n, 24)),
      ...['x'.repeat(8), 'x'.repeat(9)].map((n) => cleanName(n, 8)),
    ],
    html: h('li', {}, '<img src=x onerror=alert(1)>').innerHTML,
    drawing: room.drawings.get('p2'),
    guess: room.guesses.get('p2'),
    urls: [defaultSocketUrl({protocol: 'https:', host: 'h:1'}, 'K7QH2MZP'),
           defaultSocketUrl({protocol: 'http:', host: 'h:1'})],
    box: [viewBox([[[10, 10], [500, 20]]]), viewBox([[[-100, 0], [900, 100]]])],
    codes: ['/r/k7qh2mzp', '/r/K7QH2MZP/', '/', '/r/'].map((p) => roomCodeFromPath(p)),
  };
}"""


async def test_pure_modules(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    async with server_factory(create_app(settings)) as srv:
        page = await new_page("units", **DESKTOP)
        await page.goto(srv.http_url + "/")
        r = await page.evaluate(PURE_CHECKS)
    assert r["caption"] == [
        "",
        "I see... dog?",
        "I see... dog? ... or cat?",
        "I see... dog? ... or cat?",
        "I see... dog? ... or cat? ... or cow?",
        "... cat? ... or cow? ... or owl?",
        "Oh I know, it's an owl!",
        "Oh I know, it's an owl!",
    ]
    assert r["phrase"] == "Oh I know, it's an owl!"
    assert r["articles"] == ["an apple", "a cat", "The Eiffel Tower", "flip flops", "a wine glass"]
    assert r["countdown"] == ["0:00", "0:01", "0:01", "1:05"]
    assert r["remaining"] == 10000
    assert r["backoff"] == [500, 1000, 2000, 4000, 8000, 10000, 10000]
    assert r["names"] == ["Ada Lovelace", "O'Neil-2", None, None, None, "x" * 8, None]
    assert r["html"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert r["drawing"] == [[[1, 1, 0], [2, 2, 5]]]
    assert r["guess"] == {"seq": 4, "guesses": [{"label": "cat", "p": 0.5}]}
    assert r["urls"] == ["wss://h:1/ws?room=K7QH2MZP", "ws://h:1/ws"]
    assert r["box"] == [{"x": 0, "y": 0, "size": 512}, {"x": -100, "y": -244, "size": 1000}]
    assert r["codes"] == ["K7QH2MZP", "K7QH2MZP", None, None]
    assert page_errors.errors == []


PAD_SETUP = """async () => {
  const {DrawingPad} = await import('/js/pad.js');
  const canvas = document.createElement('canvas');
  canvas.id = 'test-pad';
  canvas.className = 'pad';
  canvas.style.cssText = 'position:fixed;left:100px;top:100px;width:256px;height:256px;z-index:99';
  document.body.append(canvas);
  window.sent = [];
  window.pad = new DrawingPad(canvas, {
    onPoints: (u) => window.sent.push(['points', u.stroke, u.points]),
    onUndo: () => window.sent.push(['undo']),
    onClear: () => window.sent.push(['clear']),
  });
  window.pad.setEnabled(true);
  return getComputedStyle(canvas).touchAction;
}"""


async def test_drawing_pad_with_real_pointer_events(
    server_factory: Any, settings: Settings, new_page: Any, page_errors: Any
) -> None:
    async with server_factory(create_app(settings)) as srv:
        page: Page = await new_page("pad", **DESKTOP)
        await page.goto(srv.http_url + "/")
        assert await page.evaluate(PAD_SETUP) == "none"  # no scrolling while drawing on touch

        # Stroke 0 leaves the canvas while the button is down: pointer capture keeps it ours.
        await page.mouse.move(110, 110)
        await page.mouse.down()
        for i in range(1, 30):
            await page.mouse.move(110 + 10 * i, 110 + 4 * i)
        await page.mouse.up()
        # Stroke 1, then a right-click (ignored) and an undo.
        await page.mouse.move(200, 300)
        await page.mouse.down()
        await page.mouse.move(300, 300, steps=5)
        await page.mouse.up()
        await page.mouse.click(150, 150, button="right")
        await page.wait_for_function("window.sent.some(m => m[0] === 'points' && m[1] === 1)")
        await page.evaluate("window.pad.undo()")
        await page.wait_for_function("window.sent.some(m => m[0] === 'undo')")

        sent = await page.evaluate("window.sent")
        strokes = await page.evaluate("window.pad.strokes")
        batches0 = [m[2] for m in sent if m[0] == "points" and m[1] == 0]
        points0 = [p for b in batches0 for p in b]
        assert len(strokes) == 1 and strokes[0] == points0  # what was drawn is what was sent
        assert points0[0][:2] == [
            pytest.approx(20, abs=0.2),
            pytest.approx(20, abs=0.2),
        ]  # logical units
        assert max(p[0] for p in points0) > 512  # captured beyond the canvas edge
        ts = [p[2] for p in points0]
        assert ts[0] == 0 and ts == sorted(ts)
        assert sent[-1] == ["undo"]
        assert [m[1] for m in sent if m[0] == "points"] == sorted(
            m[1] for m in sent if m[0] == "points"
        )

        # Disabled (recognized, round over, offline): nothing is drawn or sent.
        await page.evaluate("window.pad.setEnabled(false); window.sent = []")
        await page.mouse.move(120, 120)
        await page.mouse.down()
        await page.mouse.move(200, 200, steps=4)
        await page.mouse.up()
        await page.evaluate("window.pad.setEnabled(true); window.pad.clear()")
        await expect(page.locator("#test-pad")).to_be_visible()
        assert await page.evaluate("window.sent") == [["clear"]]
        assert await page.evaluate("window.pad.strokes") == []
    assert page_errors.errors == []
