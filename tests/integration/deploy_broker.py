"""Mosquitto started with deploy/mosquitto/ as shipped (password file, ACL, TLS listener), on
free ports of 127.0.0.1, with certificates made by ``openssl`` for the occasion.

Only the paths and the listeners' ports are rewritten; every other line of mosquitto.conf and
all of semon.acl are used as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from semon.stack.process import find_binary, free_port, stop_process, wait_for_port, write_private

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"

# What the deploy README creates: the services under their client ids, two devices.
ACCOUNTS = {
    "semon-ingest-1": "ingest-secret-Aa1",
    "semon-rules-1": "rules-secret-Bb2",
    "semon-rules-1-events": "rules-events-secret-Dd4",
    "semon-console": "console-secret-Cc3",
    "31106301022019000123": "device-123-secret",
    "31106301022019000124": "device-124-secret",
}


@dataclass(frozen=True, slots=True)
class DeployBroker:
    port: int  # plain MQTT (the deploy's 1883)
    tls_port: int  # MQTT over TLS (the deploy's 8883)
    cafile: Path  # the CA that signed the server's certificate
    root: Path
    accounts: Mapping[str, str]

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr",
                                                          "server.crt"))
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
            "-days", "2", "-subj", "/CN=semon test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(ext))
    os.chmod(key, 0o600)
    return ca, cert, key


def deploy_config(root: Path, port: int, tls_port: int, certs: tuple[Path, Path, Path]) -> str:
    """deploy/mosquitto/mosquitto.conf with this test's ports and paths."""
    ca, cert, key = certs
    paths = {"password_file": root / "semon.passwd", "acl_file": root / "semon.acl",
             "persistence_location": f"{root}/", "cafile": ca, "certfile": cert, "keyfile": key}
    conf = (DEPLOY / "mosquitto.conf").read_text()
    assert re.search(r"^listener 1883$", conf, re.M) and re.search(r"^listener 8883$", conf, re.M)
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    conf = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", conf, flags=re.M)
    for option, value in paths.items():
        conf, n = re.subn(rf"^{option} .*$", f"{option} {value}", conf, flags=re.M)
        assert n == 1, option
    conf += f"\nlog_dest file {root}/mosquitto.log\nlog_type all\n"
    if os.geteuid() == 0:
        conf += "user root\n"  # else it would drop to 'mosquitto' and lose access to our files
    return conf


@contextlib.asynccontextmanager
async def deploy_broker(root: Path, accounts: Mapping[str, str] = ACCOUNTS) -> AsyncIterator[DeployBroker]:
    certs_dir = root / "certs"
    certs_dir.mkdir(parents=True)
    certs = await asyncio.to_thread(make_certificates, certs_dir)
    write_private(root / "semon.passwd", "".join(f"{u}:{p}\n" for u, p in accounts.items()))
    hashing = await asyncio.create_subprocess_exec(
        find_binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd"), "-U", str(root / "semon.passwd"))
    assert await hashing.wait() == 0
    (root / "semon.acl").write_text((DEPLOY / "semon.acl").read_text())
    port, tls_port = free_port(), free_port()
    conf = root / "mosquitto.conf"
    conf.write_text(deploy_config(root, port, tls_port, certs))
    proc = await asyncio.create_subprocess_exec(find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf),
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    broker = DeployBroker(port, tls_port, certs[0], root, accounts)
    try:
        await wait_for_port(port, proc, 15, "mosquitto")
        await wait_for_port(tls_port, proc, 15, "mosquitto (TLS)")
        yield broker
    finally:
        await stop_process(proc, signal.SIGTERM, 15)
