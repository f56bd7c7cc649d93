"""A private Mosquitto broker started from the system's binary."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from semon.stack.process import StackError, find_binary, free_port, stop_process, wait_for_port

log = logging.getLogger(__name__)

# Same tuning as deploy/mosquitto/mosquitto.conf (see the reasons there), without auth: the
# private broker listens on 127.0.0.1 only.
_CONFIG = """\
per_listener_settings false
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data_dir}/
autosave_interval 60
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 1000
message_size_limit 262144
set_tcp_nodelay true
queue_qos0_messages false
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
log_type notice
{user_line}
"""


class MosquittoServer:
    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        # As root, Mosquitto would switch to the 'mosquitto' user and lose access to our files.
        user_line = "user root" if os.geteuid() == 0 else ""
        conf.write_text(_CONFIG.format(port=self.port, data_dir=self.data_dir, user_line=user_line))
        self._proc = await asyncio.create_subprocess_exec(
            binary, "-c", str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_for_port(self.port, self._proc, 15, "mosquitto")
        except StackError:
            log.error("mosquitto log:\n%s", self.log_tail())
            raise
        log.info("mosquitto listening on %s (data in %s)", self.url, self.data_dir)

    async def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        if self._proc is not None:
            await stop_process(self._proc, signal.SIGTERM, 15)
            self._proc = None

    async def kill(self) -> None:
        if self._proc is not None:
            await stop_process(self._proc, signal.SIGKILL, 5)
            self._proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / "mosquitto.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
