"""deploy/nginx/semon.conf, as shipped, in a real nginx in front of the API (docs/deploy-https.md):
over HTTPS the session cookie is Secure, the live stream's WebSocket upgrades through the proxy
for a page of the site and is refused for another site's, plain HTTP is sent to HTTPS, and the
login throttle sees each desk PC's address (nginx's X-Forwarded-For, believed from the trusted
proxy only), not the proxy's, whatever the client itself writes in that header."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg
import pytest

from alerts.api import alerts_part
from alerts.hub import LiveHub
from registry.api import registry_part
from registry.demo import seed_demo_register
from semon.db.pool import open_pool
from semon.stack import free_port
from semon.today import register_today
from tests.flat_settings import flat_settings
from tests.integration.helpers import PASSWORD, TEST_USERS, add_users
from web.app import create_app, serve_app
from web.proxy import TrustedProxies

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                 reason="nginx is not installed (bin/setup installs nginx-light)")]

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "semon.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True, slots=True)
class Proxied:
    https: str  # https://127.0.0.1:port
    http: str
    ca: ssl.SSLContext


def _site(api_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """The shipped site file with this machine's ports and a test certificate; nothing else changed."""
    text = SITE.read_text()
    replacements = [(r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{api_port};"),
                    (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"), (r"listen \[::\]:443 ssl;\n", ""),
                    (r"listen 80;", f"listen 127.0.0.1:{http_port};"), (r"listen \[::\]:80;\n", ""),
                    (r"ssl_certificate +\S+;", f"ssl_certificate {cert};"),
                    (r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};")]
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text)
        assert count == 1, pattern
    return text


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "semon.crt", directory / "semon.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextlib.asynccontextmanager
async def nginx(directory: Path, api_port: int) -> AsyncIterator[Proxied]:
    cert, key = _certificate(directory)
    https_port, http_port = free_port(), free_port()
    (directory / "semon.conf").write_text(_site(api_port, https_port, http_port, cert, key))
    temp = "\n".join(f"  {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    (directory / "nginx.conf").write_text(
        f"{'user root;' if os.geteuid() == 0 else ''}\ndaemon off;\nworker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log off;\n{temp}\n  include {directory / 'semon.conf'};\n}}\n")
    proc = await asyncio.create_subprocess_exec(NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                                stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", https_port)
                writer.close()
                break
            assert proc.returncode is None, (await proc.stderr.read()).decode() if proc.stderr else ""
            await asyncio.sleep(0.05)
        yield Proxied(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}",
                      ssl.create_default_context(cafile=str(cert)))
    finally:
        proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def proxied_api(database_url: str, directory: Path) -> AsyncIterator[Proxied]:
    """The API as semon serves it (alerts, register), behind nginx, trusting 127.0.0.1 only."""
    settings = flat_settings(auth_login_address_max_failures=3, auth_login_max_failures=100)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=50)
        await conn.commit()
    await add_users(database_url, TEST_USERS)
    hub = LiveHub(settings.api.live_queue_size)
    async with open_pool(database_url, max_size=4, name="test-https") as pool:
        app = create_app(pool, settings.auth, [alerts_part(pool, hub, settings.incidents),
                                               registry_part(pool, settings.registry)],
                         backoff=settings.backoff.backoff(), proxies=TrustedProxies.of(["127.0.0.1"]))
        async with serve_app(app, "127.0.0.1", 0) as port, nginx(directory, port) as proxied:
            yield proxied


def _desk(address: str, proxied: Proxied) -> aiohttp.ClientSession:
    """A desk PC at ``address`` (any 127.x.y.z is this machine) with the site's CA."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 connector=aiohttp.TCPConnector(local_addr=(address, 0), ssl=proxied.ca))


async def _login(http: aiohttp.ClientSession, base: str, username: str, password: str,
                 forwarded_for: str | None = None) -> aiohttp.ClientResponse:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with http.post(f"{base}/api/login", json={"username": username, "password": password},
                         headers=headers) as resp:
        await resp.read()
        return resp


async def test_the_console_over_https_behind_nginx(database_url: str, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    async with proxied_api(database_url, tmp_path) as proxied, _desk("127.0.0.5", proxied) as desk:
        async with desk.get(f"{proxied.http}/board", allow_redirects=False) as resp:
            assert resp.status == 301 and resp.headers["Location"].startswith("https://")
        resp = await _login(desk, proxied.https, "op", PASSWORD)
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie  # over HTTPS, told by the trusted proxy
        async with desk.get(f"{proxied.https}/api/me") as me:
            assert me.status == 200
            token = (await me.json())["csrf_token"]
        async with desk.ws_connect(f"wss://127.0.0.1:{proxied.https.rsplit(':', 1)[1]}/api/live",
                                   origin=proxied.https, headers={"X-CSRF-Token": token}) as ws:
            assert (await ws.receive_json(timeout=10))["topic"] == "snapshot"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await desk.ws_connect(f"wss://127.0.0.1:{proxied.https.rsplit(':', 1)[1]}/api/live",
                                  origin="https://evil.example")
        assert refused.value.status == 403


async def test_the_throttle_sees_each_desk_pc_not_the_proxy(database_url: str, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    async with proxied_api(database_url, tmp_path) as proxied:
        async with _desk("127.0.0.7", proxied) as guesser:
            statuses = [(await _login(guesser, proxied.https, "op", "wrong-password",
                                      forwarded_for=f"198.51.100.{n}")).status for n in range(4)]
            # what the client writes in X-Forwarded-For is replaced by nginx: still one address
            assert statuses == [401, 401, 401, 429]
            assert (await _login(guesser, proxied.https, "op", PASSWORD)).status == 429
        async with _desk("127.0.0.8", proxied) as colleague:  # another PC behind the same proxy
            assert (await _login(colleague, proxied.https, "op", PASSWORD)).status == 200
