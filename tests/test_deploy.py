"""docker-compose.yml puts nginx with the shipped deploy/nginx/doodle-arena.conf in front of the
game server replicas (Docker does not run here: the wiring is checked by reading the files; the
site itself runs in front of two real server processes in
tests/game_server/test_multiprocess.py)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "nginx"
SITE = DEPLOY / "doodle-arena.conf"
NGINX_CONF_DIR = PurePosixPath("/etc/nginx")  # the official image's nginx.conf is there
GAME_PORT = 8000  # the Dockerfile's CMD: python -m game_server --host 0.0.0.0 --port 8000


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Bind mounts (short syntax ``./host:/container[:ro]``): container path -> host file."""
    out = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            out[PurePosixPath(container)] = (ROOT / host).resolve()
    return out


def _upstream_blocks(site: str) -> dict[str, str]:
    return dict(re.findall(r"^upstream (\S+) \{\n(.*?)^\}", site, flags=re.M | re.S))


def _servers(upstream_list: str) -> list[str]:
    return re.findall(r"^server (\S+?);", upstream_list, flags=re.M)


def test_both_upstream_blocks_include_one_list_of_servers() -> None:
    blocks = _upstream_blocks(SITE.read_text())
    assert set(blocks) == {"doodle_arena_rooms", "doodle_arena_any"}
    assert "hash $arg_room consistent;" in blocks["doodle_arena_rooms"]
    includes = {
        name: re.findall(r"^\s*include (\S+);", b, flags=re.M) for name, b in blocks.items()
    }
    assert includes == {name: ["doodle-arena-upstream.conf"] for name in blocks}
    for name, block in blocks.items():
        assert not re.search(r"^\s*server ", block, flags=re.M), f"{name} lists servers itself"
    assert _servers((DEPLOY / "upstream-local.conf").read_text()) == [
        "127.0.0.1:8001",
        "127.0.0.1:8002",
    ]


def test_nginx_serves_the_shipped_site_in_front_of_every_replica(compose: dict[str, Any]) -> None:
    services = compose["services"]
    nginx = services["nginx"]
    assert str(nginx["image"]).startswith("nginx:")  # the official image
    mounts = _mounts(nginx)
    # the shipped site, as the only site (it replaces the image's default.conf)
    assert mounts[NGINX_CONF_DIR / "conf.d" / "default.conf"] == SITE
    # its include, relative to nginx's configuration directory, is the compose list
    upstreams = mounts[NGINX_CONF_DIR / "doodle-arena-upstream.conf"]
    assert upstreams == DEPLOY / "upstream-compose.conf"
    servers = _servers(upstreams.read_text())
    replicas = sorted(name for name, s in services.items() if s.get("build") == ".")
    assert len(replicas) >= 2
    # every replica once, by its service name (Docker's DNS) and the port it listens on
    assert sorted(servers) == sorted(f"{name}:{GAME_PORT}" for name in replicas)
    for name in replicas:
        game = services[name]
        assert "ports" not in game, f"{name} is reached through nginx only"
        assert str(GAME_PORT) in map(str, game.get("expose", []))
        assert "command" not in game  # the Dockerfile's CMD, which listens on GAME_PORT
        assert game["environment"]["REDIS_URL"] == "redis://redis:6379/0"  # one shared Redis
        assert game["depends_on"]["redis"]["condition"] == "service_healthy"
        # nginx resolves the names at start: it starts once they are up
        assert nginx["depends_on"][name]["condition"] == "service_healthy"


def test_the_image_listens_on_the_port_nginx_proxies_to() -> None:
    (cmd,) = re.findall(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    args = json.loads(cmd)
    assert args[args.index("--port") + 1] == str(GAME_PORT)
    assert args[args.index("--host") + 1] == "0.0.0.0"  # reachable from nginx's container


def test_the_published_port_is_the_sites_listen_port(compose: dict[str, Any]) -> None:
    (listen,) = re.findall(r"^\s*listen (\d+);", SITE.read_text(), flags=re.M)
    (published,) = compose["services"]["nginx"]["ports"]
    host, container = str(published).split(":")
    assert (host, container) == ("8000", listen)


def test_replicas_trust_forwarded_addresses_from_nginx_only(compose: dict[str, Any]) -> None:
    """Per-address limits (docs/SECURITY.md) must see the player's address, not nginx's, and a
    player must not be able to choose it: uvicorn trusts X-Forwarded-For from nginx's address
    only (which is fixed in the compose network's subnet)."""
    services = compose["services"]
    nginx_ip = ipaddress.ip_address(services["nginx"]["networks"]["default"]["ipv4_address"])
    (subnet,) = (c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"])
    assert nginx_ip in ipaddress.ip_network(subnet)
    for name, service in services.items():
        if service.get("build") == ".":
            assert service["environment"]["FORWARDED_ALLOW_IPS"] == str(nginx_ip), name
    site = SITE.read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site
