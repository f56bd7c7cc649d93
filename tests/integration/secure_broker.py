"""A Mosquitto with a password file and a TLS listener, certificates made with openssl: for the
tests of credentials and TLS. (The production configuration lives in deploy/mosquitto/.)"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from semon.stack.process import find_binary, free_port, stop_process, wait_for_port

_CONFIG = """\
per_listener_settings false
allow_anonymous false
password_file {dir}/passwords
listener {plain_port} 127.0.0.1
listener {tls_port} 127.0.0.1
cafile {dir}/ca.pem
certfile {dir}/server.pem
keyfile {dir}/server.key
require_certificate false
persistence false
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
log_type notice
{user_line}
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """ca.pem/ca.key, server.pem/server.key for 127.0.0.1 and localhost, client.pem/client.key."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=semon test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=semon-client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=directory)
        extra = ["-extfile", str(ext)] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.pem", *extra, cwd=directory)
    for key in directory.glob("*.key"):
        key.chmod(0o644)  # as root, Mosquitto reads them as the 'root' user line below allows


@dataclass
class SecureBroker:
    directory: Path
    plain_port: int
    tls_port: int
    accounts: dict[str, str]
    proc: asyncio.subprocess.Process | None = None

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    def url(self, user: str, password: str | None = None, *, tls: bool = True) -> str:
        from urllib.parse import quote
        secret = self.accounts[user] if password is None else password
        scheme, port = ("mqtts", self.tls_port) if tls else ("mqtt", self.plain_port)
        return f"{scheme}://{quote(user, safe='')}:{quote(secret, safe='')}@127.0.0.1:{port}"

    async def start(self) -> None:
        passwords = self.directory / "passwords"
        passwords.write_text("")
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for user, password in self.accounts.items():
            await asyncio.to_thread(subprocess.run, [tool, "-b", str(passwords), user, password], check=True,
                                    capture_output=True)
        user_line = "user root" if os.geteuid() == 0 else ""
        conf = self.directory / "mosquitto.conf"
        conf.write_text(_CONFIG.format(dir=self.directory, plain_port=self.plain_port, tls_port=self.tls_port,
                                       user_line=user_line))
        self.proc = await asyncio.create_subprocess_exec(
            find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await wait_for_port(self.tls_port, self.proc, 15, "mosquitto")
        await wait_for_port(self.plain_port, self.proc, 15, "mosquitto")

    async def stop(self) -> None:
        if self.proc is not None:
            await stop_process(self.proc, signal.SIGTERM, 15)
            self.proc = None


async def secure_broker(directory: Path, accounts: dict[str, str]) -> SecureBroker:
    await asyncio.to_thread(make_certificates, directory)
    broker = SecureBroker(directory, free_port(), free_port(), accounts)
    await broker.start()
    return broker
