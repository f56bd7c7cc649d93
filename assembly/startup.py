"""What ``semon up`` checks before it starts anything, so that a start-up problem is one line
naming the setting to change, not a traceback minutes later from a part that never got ready
(``semon ingest`` and ``semon alerts`` check their ports the same way; they wait out a broker or
database outage as they always do, under systemd's restarts).

- the data directory (``SEMON_DATA_DIR``) can be created and written;
- the API's and the metrics' ports (``SEMON_API_PORT``, ``SEMON_METRICS_PORT``) are free on
  their hosts (``SEMON_API_HOST``, ``SEMON_METRICS_HOST``);
- a configured database (``SEMON_DATABASE_URL``) answers and takes the credentials;
- a configured broker (``SEMON_MQTT_URL``, and ``SEMON_RULES_MQTT_URL`` if set) accepts a
  connection and the account.

Each check raises ``StartupProblem`` whose message is that one line; ``one_line`` makes one of
any other error (a third-party message of several lines)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import tempfile
from pathlib import Path

import psycopg

from semon.mqtt.client import BrokerAddress, ConnectRefused, MqttClient, MqttError, TlsFilesError
from semon.mqtt.packets import ConnectOptions
from semon.settings import Settings

CHECK_TIMEOUT_S = 5.0


class StartupProblem(Exception):
    """Why ``semon up`` cannot start, in one line that names the setting to change."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (whitespace runs to one space), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_data_dir(path: Path) -> None:
    """The data directory exists (created if need be) and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise StartupProblem(f"the data directory {path} cannot be created or written "
                             f"(SEMON_DATA_DIR): {exc.strerror or exc}; choose another directory "
                             "or give this one to the user semon runs as") from None


def check_port(host: str, port: int, port_variable: str, host_variable: str) -> None:
    """``port`` on ``host`` can be bound (0: any free port, nothing to check). The listening
    socket is closed again at once; the part that serves it binds it a moment later."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupProblem(f"the host {host!r} is not an address of this machine ({host_variable}): "
                             f"{exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupProblem(f"port {port} is in use ({port_variable}); choose another port, "
                                     "or stop the program that holds it") from None
            if exc.errno == errno.EACCES:
                raise StartupProblem(f"port {port} needs privileges this user lacks ({port_variable}); "
                                     "choose a port above 1023") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StartupProblem(f"{host} is not an address of this machine ({host_variable}); "
                                     "use 127.0.0.1, 0.0.0.0 or one of its own") from None
            raise StartupProblem(f"cannot listen on {host}:{port} ({port_variable}, {host_variable}): "
                                 f"{exc.strerror or exc}") from None


def _shown(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"))


async def check_database(url: str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """The configured database answers and takes the URL's credentials."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout_s)))
    except (psycopg.Error, OSError) as exc:
        raise StartupProblem(f"the database {_shown(url)} cannot be reached (SEMON_DATABASE_URL): "
                             f"{one_line(exc, 200)}") from None
    await conn.close()


async def check_broker(settings: Settings, url: str, client_id: str, variable: str = "SEMON_MQTT_URL",
                       timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """The configured broker accepts a connection to ``url`` (the setting ``variable``) with its
    account. It connects as the service that will use it (``client_id``) without a clean start
    (the broker may bind client ids to accounts: a clean start would throw away the session and
    the messages queued for it), asks for one message at most and acknowledges none, so whatever
    is queued stays for the service."""
    try:
        address = BrokerAddress.from_settings(url, settings.mqtt)
    except (ValueError, TlsFilesError) as exc:
        raise StartupProblem(f"{variable}: {one_line(exc, 200)}") from None
    client = MqttClient(ConnectOptions(client_id, clean_start=False,
                                       session_expiry=settings.mqtt.session_expiry_s, receive_maximum=1))
    try:
        await client.connect(address, timeout=timeout_s)
    except TlsFilesError as exc:
        raise StartupProblem(f"the broker's TLS files (SEMON_MQTT_CA_FILE, _CERT_FILE, _KEY_FILE): "
                             f"{one_line(exc, 200)}") from None
    except ConnectRefused as exc:
        why = {0x86: "wrong username or password", 0x87: "not authorised (wrong username or password?)",
                0x85: "client id refused"}.get(
            exc.reason_code, f"reason 0x{exc.reason_code:02x}")
        raise StartupProblem(f"the broker {_shown(url)} refused the connection ({variable}): {why}") from None
    except (OSError, TimeoutError, MqttError) as exc:
        raise StartupProblem(f"the broker {_shown(url)} cannot be reached ({variable}): "
                             f"{one_line(exc, 200) or type(exc).__name__}") from None
    with contextlib.suppress(OSError, TimeoutError, MqttError):  # accepted: that was the question
        async with asyncio.timeout(timeout_s):
            await client.disconnect()


async def preflight(settings: Settings) -> None:
    """``semon up``'s checks: the data directory, then ``check_service``'s for the API, the
    ingester's and (if set) the rules engine's own broker account."""
    check_data_dir(settings.data_dir)
    await check_service(settings, serves_api=True, client_id=settings.ingest.client_id, reach=True)
    if settings.mqtt.url and settings.rules.mqtt_url:
        await check_broker(settings, settings.rules.mqtt_url, settings.rules.client_id, "SEMON_RULES_MQTT_URL")


async def check_service(settings: Settings, *, serves_api: bool, client_id: str, reach: bool = False) -> None:
    """A service's checks before it starts: its ports (the API's if it ``serves_api``, the
    metrics'), then with ``reach`` the database and the broker when configured, the broker with
    the client id the service connects as (``client_id``)."""
    if serves_api:
        check_port(settings.api.host, settings.api.port, "SEMON_API_PORT", "SEMON_API_HOST")
    check_port(settings.metrics.host, settings.metrics.port, "SEMON_METRICS_PORT", "SEMON_METRICS_HOST")
    if serves_api and settings.api.port and settings.api.port == settings.metrics.port and \
            settings.api.host == settings.metrics.host:
        raise StartupProblem(f"the API and the metrics both want port {settings.api.port} "
                             "(SEMON_API_PORT, SEMON_METRICS_PORT); give them different ports")
    if reach and settings.database_url:
        await check_database(settings.database_url)
    if reach and settings.mqtt.url:
        await check_broker(settings, settings.mqtt.url, client_id)
