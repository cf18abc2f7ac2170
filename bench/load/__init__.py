"""Load generator: simulated players drawing real Quick, Draw! drawings over real WebSockets.

``python -m bench.load --players 40 --rooms 5 --duration 30 [--json] [--url ws://127.0.0.1:P/ws]``

Without ``--url`` it starts ``python -m game_server`` on a free loopback port through
:mod:`game_server.harness` (embedded Redis: ``REDIS_URL`` removed from its environment), waits
for ``/healthz``, and measures the server's CPU time (and its Redis's) and peak memory
(``VmHWM``) from ``/proc``. With ``--url`` it drives an already running server (loopback
addresses only: 127.0.0.1, ::1, localhost). With ``--processes N`` it spawns one real
redis-server (:mod:`game_server.redis_embedded`), N servers sharing it (``REDIS_URL``) and
Debian's nginx with the shipped site ``deploy/nginx/doodle-arena.conf`` in front of them
(:func:`game_server.harness.start_nginx`); the players connect through nginx, to
``/ws?room=CODE``, so that every room's sockets land on one process. The server CPU is then
the sum over the processes (each reported too, with the rooms it owned at the end of the
window, from its ``/healthz``), the shared Redis counts as their children, and nginx's CPU is
reported apart (``nginx_cpu_us_per_update``).

Every room is created with ``POST /api/rooms``; its first player is the host, who sends
``settings`` (``--rounds``, ``--seconds``) and ``start`` once the room is full. On every
``round_started`` each player draws a real drawing of the prompt (raw data of that category,
streamed with its own timings divided by ``--speedup``; one ``points`` batch per
``--interval-ms`` of drawing time, a new batch per stroke), as the protocol says
(docs/protocol.md). A drawing that ends unrecognized is followed by ``clear`` and another
real drawing of the prompt, so drawing players keep streaming until they are recognized or
the round ends.

The players run in ``--client-procs`` processes (whole rooms each; default one per 256
players, at most one per core); the CPU time of all of them is reported per update next to the
server's. Latency: see :mod:`bench.load.player`. Only updates sent inside the measurement window
(after ``--warmup``) count. The clients' own event-loop lag is reported too: when a client
process saturates its core, latencies include client queueing.

Every player's socket is a :class:`~bench.load.wsclient.WSClient`: a small RFC 6455 client (an
asyncio protocol on uvloop: masked frames, checked handshake, pings, close, fragments,
permessage-deflate) that parses only what the player reads, so that the load generator costs
less CPU per update than the server it measures.

Modules: :mod:`~bench.load.cli` (options), :mod:`~bench.load.run` (one run),
:mod:`~bench.load.clients` (client processes), :mod:`~bench.load.player` (one player),
:mod:`~bench.load.wsclient` (its WebSocket), :mod:`~bench.load.pacer` (when updates leave),
:mod:`~bench.load.drawings` (what they draw), :mod:`~bench.load.stats` (counters, CPU),
:mod:`~bench.load.server` (the server under load), :mod:`~bench.load.report` (JSON, table),
:mod:`~bench.load.sweep` (latency against players, plots).
"""
