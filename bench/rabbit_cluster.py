"""A private RabbitMQ cluster on 127.0.0.1 from the system's package (Debian's RabbitMQ 3.10),
for ``python -m bench.engines``: N nodes ``semonbenchK@localhost`` with their own ports,
directories, Erlang cookie and plugins (MQTT, consistent-hash exchange), nodes 2..N joined to
node 1. The system's RabbitMQ service (5672/25672) is left alone; epmd is shared with it.

Runs the scripts of ``/usr/lib/rabbitmq/bin`` (``rabbitmq-server``, ``rabbitmqctl``) rather
than ``/usr/sbin``'s wrappers: run by root, those switch to the ``rabbitmq`` user with ``su``,
which resets HOME (where the cookie is) and starts in ``/var/lib/rabbitmq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from semon.stack.process import StackError, find_binary, free_port, port_free, write_private

log = logging.getLogger(__name__)

_SCRIPTS = "/usr/lib/rabbitmq/bin"
PLUGINS = ("rabbitmq_mqtt", "rabbitmq_consistent_hash_exchange")


@dataclass(frozen=True, slots=True)
class RabbitPorts:
    amqp: int
    dist: int
    mqtt: int
    cli: int  # the first of the CLI's 11 distribution ports (rabbitmqctl listens on one of them)

    @classmethod
    def free(cls, taken: set[int]) -> RabbitPorts:
        return cls(free_port(), free_port(), free_port(), _free_range(11, taken))


def _free_range(length: int, taken: set[int], start: int = 46000) -> int:
    """The first of ``length`` consecutive free ports from ``start``, none in ``taken`` (which
    gets them)."""
    for first in range(start, 65000 - length):
        span = range(first, first + length)
        if not taken.intersection(span) and all(port_free(p) for p in span):
            taken.update(span)
            return first
    raise StackError(f"no {length} consecutive free ports above {start}")


class RabbitNode:
    """One ``rabbitmq-server`` in ``data_dir`` (its configuration, Mnesia, logs, plugins file),
    in a process group of its own so that stopping it takes its Erlang VM along."""

    def __init__(self, index: int, root: Path, ports: RabbitPorts, cookie_home: Path) -> None:
        self.name = f"semonbench{index}@localhost"
        self.data_dir = (root / f"rabbit-{index}").resolve()
        self.ports = ports
        self._home = cookie_home
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def env(self) -> dict[str, str]:
        """The environment of this node's server and of the CLI commands aimed at it."""
        d = self.data_dir
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(self._home),  # .erlang.cookie, shared by the nodes and the CLI
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),  # not /etc/rabbitmq's
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.ports.amqp),
            "RABBITMQ_DIST_PORT": str(self.ports.dist),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.ports.cli),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.ports.cli + 10),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def write_files(self) -> None:
        d = self.data_dir
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        write_private(d / "rabbitmq-env.conf", "ERL_EPMD_ADDRESS=127.0.0.1\n")
        write_private(d / "enabled_plugins", "[" + ",".join(PLUGINS) + "].\n")
        write_private(d / "rabbitmq.conf", "\n".join([
            f"listeners.tcp.default = 127.0.0.1:{self.ports.amqp}",
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.ports.mqtt}",
            "mqtt.allow_anonymous = true",  # as the NATS nodes: open to anyone on 127.0.0.1
            "log.file.level = warning",
            "log.console = false",
        ]) + "\n")

    async def start(self) -> None:
        self.write_files()
        self._proc = await asyncio.create_subprocess_exec(
            f"{_SCRIPTS}/rabbitmq-server", env=self.env(), cwd=self.data_dir, start_new_session=True,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)

    async def wait(self, timeout: float = 120) -> None:
        """Until the node's applications run (``rabbitmqctl wait``); StackError if they do not."""
        await self.ctl("wait", "--timeout", str(int(timeout)), str(self.data_dir / "rabbitmq.pid"),
                       timeout=timeout + 10)

    async def ctl(self, *args: str, timeout: float = 120) -> str:
        """``rabbitmqctl -n NODE ARGS``: its output; StackError when it fails."""
        proc = await asyncio.create_subprocess_exec(
            f"{_SCRIPTS}/rabbitmqctl", "-n", self.name, *args, env=self.env(),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(timeout):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise StackError(f"rabbitmqctl {' '.join(args)} on {self.name}: no answer in {timeout:.0f}s") from None
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise StackError(f"rabbitmqctl {' '.join(args)} on {self.name} failed:\n{text[-2000:]}")
        return text

    async def stop(self) -> None:
        """``rabbitmqctl stop``, then SIGKILL to the node's process group if anything is left."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(StackError):
                await self.ctl("stop", timeout=60)
            try:
                async with asyncio.timeout(30):
                    await self._proc.wait()
            except TimeoutError:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)  # the group is this node's alone
            await self._proc.wait()
        self._proc = None


class RabbitCluster:
    """``async with RabbitCluster(root, 3) as cluster:`` N RabbitMQ nodes on 127.0.0.1, nodes
    2..N joined to node 1 (``stop_app``, ``join_cluster``, ``start_app``). ``start`` returns once
    every node runs and sees all N nodes; on failure every node started is stopped again."""

    def __init__(self, root: Path, nodes: int = 3) -> None:
        find_binary("rabbitmq-server", f"{_SCRIPTS}/rabbitmq-server")
        self.root = root.resolve()
        home = self.root / "rabbit-home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        write_private(cookie, secrets.token_hex(16).upper())
        os.chmod(cookie, 0o400)  # Erlang refuses a cookie others can read
        taken: set[int] = set()
        self.nodes = [RabbitNode(i + 1, self.root, RabbitPorts.free(taken), home) for i in range(nodes)]

    def amqp_url(self, node: int = 0) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.nodes[node].ports.amqp}/"

    def pids(self) -> list[int | None]:
        """Each node's start script (its Erlang VM runs under it); None for a node not running."""
        return [n.pid for n in self.nodes]

    def mqtt_ports(self) -> list[int]:
        return [n.ports.mqtt for n in self.nodes]

    async def start(self) -> None:
        try:
            await asyncio.gather(*(n.start() for n in self.nodes))
            await asyncio.gather(*(n.wait() for n in self.nodes))
            first = self.nodes[0]
            for node in self.nodes[1:]:
                await node.ctl("stop_app")
                await node.ctl("join_cluster", first.name)
                await node.ctl("start_app")
            await first.ctl("await_online_nodes", str(len(self.nodes)), "--timeout", "120", timeout=130)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes), return_exceptions=True)

    async def __aenter__(self) -> RabbitCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

