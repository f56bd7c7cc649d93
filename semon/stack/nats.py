"""A private NATS cluster with JetStream and its MQTT listener, from the system's binary
(Debian's ``nats-server``): N nodes on 127.0.0.1, for ``semon up --cluster N``, the tests and
the benchmarks (docs/scale.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from semon.cluster.subjects import mappings
from semon.stack.process import (
    DirLock,
    StackError,
    find_binary,
    free_port,
    load_ports,
    parent_death_prefix,
    port_free,
    save_ports,
    stop_process,
    wait_for_port,
    write_private,
)

log = logging.getLogger(__name__)

CLUSTER_NAME = "semon"
PORTS_FILE = "ports.json"


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    cluster: int
    mqtt: int

    @classmethod
    def free(cls) -> NodePorts:
        return cls(free_port(), free_port(), free_port())


def _quoted(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid NATS configuration string


def node_config(name: str, data_dir: Path, ports: NodePorts, routes: list[int], *, partitions: int,
                replicas: int, accounts: Mapping[str, str] | None, max_file_store: str = "8GB",
                device_accounts: frozenset[str] = frozenset()) -> str:
    """One node's configuration: its client, cluster and MQTT listeners on 127.0.0.1,
    JetStream in ``data_dir``, the partition mappings (``semon.cluster.subjects.mappings``) and,
    with ``accounts`` (user → password), logins for NATS and MQTT clients alike; those of
    ``device_accounts`` may only publish device topics."""
    lines = [
        f"server_name: {_quoted(name)}",
        f"listen: \"127.0.0.1:{ports.client}\"",
        f"pid_file: {_quoted(str(data_dir / 'nats.pid'))}",
        f"log_file: {_quoted(str(data_dir / 'nats.log'))}",
        "max_payload: 1MB",
        "jetstream {",
        f"  store_dir: {_quoted(str(data_dir / 'jetstream'))}",
        "  max_memory_store: 256MB",
        f"  max_file_store: {max_file_store}",
        "}",
        "mqtt {",
        f"  listen: \"127.0.0.1:{ports.mqtt}\"",
        f"  stream_replicas: {replicas}",
        "  max_ack_pending: 1000",
        "}",
        "mappings = {",
        *(f"  {_quoted(src)}: {_quoted(dst)}" for src, dst in mappings(partitions).items()),
        "}",
    ]
    if routes:
        lines += [
            "cluster {",
            f"  name: {CLUSTER_NAME}",
            f"  listen: \"127.0.0.1:{ports.cluster}\"",
            "  routes: [" + ", ".join(f"\"nats-route://127.0.0.1:{p}\"" for p in routes) + "]",
            "}",
        ]
    if accounts is not None:
        def user(name: str, password: str) -> str:
            # A device account publishes device topics only: no JetStream API, no leases, nothing
            # to read. The servers check the subject after the partition mappings (a device's
            # se/… arrives as semon.fr.… or semon.ev.…), so those are allowed too.
            allowed = ", ".join(_quoted(f"{subject}") for subject in ("se.>", "semon.fr.>", "semon.ev.>"))
            rights = (f", permissions: {{publish: {{allow: [{allowed}]}}, subscribe: {{deny: [\">\"]}}}}"
                      if name in device_accounts else "")
            return f"{{user: {_quoted(name)}, password: {_quoted(password)}{rights}}}"

        users = ", ".join(user(u, p) for u, p in accounts.items())
        lines += ["authorization {", f"  users: [{users}]", "}"]
    return "\n".join(lines) + "\n"


class NatsNode:
    """One ``nats-server`` of the cluster, in its own directory; started, stopped, killed and
    started again on the same ports and data (a killed node recovers its JetStream state)."""

    def __init__(self, name: str, data_dir: Path, ports: NodePorts, config: str, *, die_with_parent: bool) -> None:
        self.name = name
        self.data_dir = data_dir.resolve()
        self.ports = ports
        self._config = config
        self.die_with_parent = die_with_parent
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = DirLock(self.data_dir.with_name(f".{self.data_dir.name}.lock"))

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def started(self) -> bool:
        """Started and not stopped by us (it may have died since)."""
        return self._proc is not None

    def exit_status(self) -> str:
        code = self._proc.returncode if self._proc is not None else None
        return "running" if code is None else (f"signal {-code}" if code < 0 else f"status {code}")

    @property
    def running(self) -> bool:
        return self.pid is not None

    async def start(self) -> None:
        """Raises StackError with the log's tail when the node does not open its ports."""
        if self._proc is not None and self._proc.returncode is not None:
            self._proc = None  # died: its lock went with our hold of it below
            self._lock.release()
        self._lock.acquire(f"the NATS directory {self.data_dir}")
        try:
            binary = find_binary("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            conf = self.data_dir / "nats.conf"
            write_private(conf, self._config)
            death = parent_death_prefix(signal.SIGTERM) if self.die_with_parent else []
            # A session of its own: a Ctrl-C in the terminal (SIGINT to the whole process group)
            # must not take the cluster away while the parts reading it still stop; it is
            # stopped after them (or by ``die_with_parent`` when this process dies).
            self._proc = await asyncio.create_subprocess_exec(
                *death, binary, "-c", str(conf),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
            try:
                await wait_for_port(self.ports.client, self._proc, 30, f"nats-server {self.name}")
                await wait_for_port(self.ports.mqtt, self._proc, 30, f"nats-server {self.name} (MQTT)")
            except StackError:
                log.error("nats-server %s log:\n%s", self.name, self.log_tail())
                await self._stop(signal.SIGKILL, 5)
                raise
        except BaseException:
            self._lock.release()
            raise
        log.info("nats-server %s: NATS on 127.0.0.1:%d, MQTT on 127.0.0.1:%d (data in %s)", self.name,
                 self.ports.client, self.ports.mqtt, self.data_dir)

    async def stop(self) -> None:
        """Graceful: SIGTERM (the node leaves the cluster and closes its clients)."""
        await self._stop(signal.SIGTERM, 30)
        self._lock.release()

    async def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed or handed over."""
        await self._stop(signal.SIGKILL, 5)
        self._lock.release()

    async def _stop(self, sig: signal.Signals, timeout: float) -> None:
        if self._proc is not None:
            await stop_process(self._proc, sig, timeout)
            self._proc = None
        self._lock.release()

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / "nats.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


class NatsCluster:
    """``async with NatsCluster(dir, nodes=3) as cluster:`` N nodes on 127.0.0.1 with
    JetStream, their MQTT listeners, routes between them (none for one node), the partition
    mappings for ``partitions``, and replicas ``min(3, nodes)`` for MQTT's own streams.

    ``accounts`` (user → password): clients must log in, NATS and MQTT alike; ``None``: open to
    anyone on 127.0.0.1 (the tests' clusters). Ports are picked free at start.
    """

    def __init__(self, root: Path, nodes: int = 3, *, partitions: int, accounts: Mapping[str, str] | None = None,
                 device_accounts: frozenset[str] = frozenset(), die_with_parent: bool = True,
                 max_file_store: str = "8GB", remember_ports: bool = False) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.root = root
        self.partitions = partitions
        self.accounts = dict(accounts) if accounts is not None else None
        self.replicas = min(3, nodes)
        self._ports_path = root / PORTS_FILE if remember_ports else None
        ports = self._remembered_ports(nodes)
        routes = [p.cluster for p in ports] if nodes > 1 else []
        self.nodes = [
            NatsNode(f"n{i + 1}", root / f"nats-{i + 1}", p,
                     node_config(f"n{i + 1}", (root / f"nats-{i + 1}").resolve(), p, routes,
                                 partitions=partitions, replicas=self.replicas, accounts=self.accounts,
                                 max_file_store=max_file_store, device_accounts=device_accounts),
                     die_with_parent=die_with_parent)
            for i, p in enumerate(ports)
        ]
        self.restarts = 0

    def _remembered_ports(self, nodes: int) -> list[NodePorts]:
        """The ports of the last start (``remember_ports``: devices keep their nodes' addresses),
        each still free, else new free ones (with a warning naming the node)."""
        kept = load_ports(self._ports_path) if self._ports_path is not None else {}
        ports = []
        for i in range(nodes):
            named = [kept.get(f"n{i + 1}-{kind}", 0) for kind in ("client", "cluster", "mqtt")]
            if all(named) and all(port_free(p) for p in named):
                ports.append(NodePorts(*named))
                continue
            if any(named):
                log.warning("node n%d's ports %s are taken; it moves to new ones", i + 1, named)
            ports.append(NodePorts.free())
        if self._ports_path is not None:
            save_ports(self._ports_path, {f"n{i + 1}-{kind}": getattr(p, kind) for i, p in enumerate(ports)
                                          for kind in ("client", "cluster", "mqtt")})
        return ports

    async def watch(self, interval_s: float = 1.0) -> None:
        """Until cancelled: a node that died is started again, with a warning (a node killed,
        or crashed: the others kept the log and the leases while it was away)."""
        while True:
            await asyncio.sleep(interval_s)
            for node in self.nodes:
                if node.started and not node.running:
                    log.warning("nats-server %s died (%s); starting it again", node.name, node.exit_status())
                    try:
                        await node.start()
                        self.restarts += 1
                    except StackError as exc:
                        log.error("nats-server %s did not start again: %s", node.name, exc)

    def nats_urls(self) -> list[str]:
        """Every node's NATS address (a NATS client logs in with ``password(user)`` given apart:
        nats-py does not decode credentials in a URL)."""
        return [f"nats://127.0.0.1:{n.ports.client}" for n in self.nodes]

    def password(self, user: str) -> str:
        if self.accounts is None or user not in self.accounts:
            raise KeyError(f"no account {user!r} on this cluster")
        return self.accounts[user]

    def mqtt_urls(self, user: str | None = None) -> list[str]:
        """Every node's MQTT address, with ``user``'s credentials when given, and
        ``?protocol=3.1.1`` (nats-server speaks MQTT 3.1.1 only)."""
        login = "" if user is None else f"{quote(user, safe='')}:{quote(self.password(user), safe='')}@"
        return [f"mqtt://{login}127.0.0.1:{n.ports.mqtt}?protocol=3.1.1" for n in self.nodes]

    async def start(self) -> None:
        try:
            await asyncio.gather(*(n.start() for n in self.nodes))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes), return_exceptions=True)

    async def __aenter__(self) -> NatsCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
