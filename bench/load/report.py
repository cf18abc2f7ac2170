"""The result of a load run: the JSON object (``--json``) and its text table."""

from __future__ import annotations

import argparse
from typing import Any

from bench.load.stats import Stats
from bench.stats import summarize


def build(
    args: argparse.Namespace,
    st: Stats,
    connect_s: float,
    client_cpu_s: float,
    server: dict[str, Any],
    client_procs: int,
) -> dict[str, Any]:
    lat = summarize(st.latencies_ms)
    lag = summarize(st.lag_ms)
    out: dict[str, Any] = {
        "players": args.players,
        "rooms": args.rooms,
        "duration_s": args.duration,
        "speedup": args.speedup,
        "compression": args.compression,
        "mode": "capacity" if args.capacity else "game",
        "client_procs": client_procs,
        "processes": args.processes,
        "updates_per_s": st.sent_updates / args.duration,
        "updates": st.sent_updates,
        "guesses_per_s": st.guesses / args.duration,
        "latency_ms": {
            "n": lat["n"],
            "p50": lat["median"] if lat["n"] else None,
            "p95": lat["p95"] if lat["n"] else None,
            "p99": lat["p99"] if lat["n"] else None,
            "mean": lat["mean"] if lat["n"] else None,
            "max": lat["max"] if lat["n"] else None,
        },
        "unanswered": st.unanswered,
        "recognized": st.recognized,
        # of the real drawings that were recognized or fully drawn inside the window
        "recognition_rate": (
            st.recognized / (st.recognized + st.drawings_unrecognized)
            if st.recognized + st.drawings_unrecognized
            else None
        ),
        "drawings_unrecognized": st.drawings_unrecognized,
        "player_rounds": st.player_rounds,
        "players_in_round_at_end": st.in_round_at_end,
        "players_drawing_at_end": st.drawing_at_end,
        "rounds_started": st.rounds_started,
        "time_to_recognition_ms_p50": summarize(st.recognized_ms)["median"]
        if st.recognized_ms
        else None,
        "errors": sum(st.errors.values()) + st.connect_failures,
        "error_codes": dict(st.errors),
        "benign_races": dict(st.races),
        "dropped_connections": st.dropped,
        "connect_failures": st.connect_failures,
        "connect_s": connect_s,
        "messages_in_per_s": st.messages_in / max(args.duration, 1e-9),
        # all load-generator processes together, % of one core
        "client_cpu_pct": 100.0 * client_cpu_s / args.duration,
        "client_cpu_us_per_update": 1e6 * client_cpu_s / st.sent_updates
        if st.sent_updates
        else None,
        "client_loop_lag_ms": {"p50": lag["median"], "p99": lag["p99"]} if lag["n"] else None,
    }
    out.update(server)
    if server.get("server_cpu_s") and st.sent_updates:
        out["server_cpu_us_per_update"] = 1e6 * server["server_cpu_s"] / st.sent_updates
        # the server process and its children (its embedded Redis) together
        total = server["server_cpu_s"] + server.get("children_cpu_s", 0.0)
        out["server_total_cpu_us_per_update"] = 1e6 * total / st.sent_updates
        # the event loops' threads alone (the rest of the server's CPU: the AI's threads)
        loop_s = server.get("server_loop_thread_cpu_s", 0.0)
        out["server_loop_thread_cpu_us_per_update"] = 1e6 * loop_s / st.sent_updates
        for proc in server.get("server_processes", []):
            proc["cpu_us_per_update"] = 1e6 * proc["cpu_s"] / st.sent_updates
            proc["loop_thread_cpu_us_per_update"] = (
                1e6 * proc["loop_thread_cpu_s"] / st.sent_updates
            )
        if "nginx_cpu_s" in server:
            out["nginx_cpu_us_per_update"] = 1e6 * server["nginx_cpu_s"] / st.sent_updates
    return out


def format_result(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]

    def f(v: Any, fmt: str = "{:.1f}") -> str:
        return "-" if v is None else fmt.format(v)

    rows = [
        ("players / rooms", f"{r['players']} / {r['rooms']}"),
        ("runs (medians of)", str(r.get("repeat", 1))),
        ("model served", str(r.get("model", "?"))),
        ("mode, duration (s), speedup",
         f"{r.get('mode')}, {r['duration_s']:.0f}, {r['speedup']:g}x"),
        ("stroke updates/s (sent)", f(r["updates_per_s"])),
        ("guesses/s (received)", f(r["guesses_per_s"])),
        (
            "stroke-to-guess p50/p95/p99 ms",
            f"{f(lat['p50'])} / {f(lat['p95'])} / {f(lat['p99'])} (n={lat['n']})",
        ),
        ("updates without a guess", str(r["unanswered"])),
        ("recognized (rate)", f"{r['recognized']} ({f(r['recognition_rate'], '{:.0%}')})"),
        ("errors / dropped", f"{r['errors']} / {r['dropped_connections']}  "
         f"{r['error_codes'] or ''}"),
        ("benign races (late points)", str(r.get("benign_races") or 0)),
        ("server CPU %", f(r.get("server_cpu_pct"))),
        ("server CPU us/update", f(r.get("server_cpu_us_per_update"))),
        ("  of which event-loop thread", f(r.get("server_loop_thread_cpu_us_per_update"))),
        ("redis (children) CPU %", f(r.get("children_cpu_pct"))),
        ("server + redis CPU us/update", f(r.get("server_total_cpu_us_per_update"))),
        ("server processes: us/update (rooms owned)", ", ".join(
            f"{f(p.get('cpu_us_per_update'))} ({f(p.get('rooms_owned'), '{}')})"
            for p in r.get("server_processes", [])) or "-"),
        ("nginx CPU %, us/update",
         f"{f(r.get('nginx_cpu_pct'))}, {f(r.get('nginx_cpu_us_per_update'))}"),
        ("server peak RSS MB (largest process)", f(r.get("server_peak_rss_mb"))),
        ("server log warnings/errors", str(r.get("server_log_problems") or 0)),
        ("client procs, CPU % (loop lag p99 ms)",
         f"{r.get('client_procs', 1)}, {f(r['client_cpu_pct'])} "
         f"({f((r['client_loop_lag_ms'] or {}).get('p99'))})"),
        ("client CPU us/update", f(r.get("client_cpu_us_per_update"))),
    ]  # fmt: skip
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
