"""``Simulation`` takes the TLS files of the settings for an ``mqtts://`` broker, as the
services do: ``semon simulate`` with ``SEMON_MQTT_CA_FILE`` verifies the broker against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from semon.settings import MqttSettings
from simulators.service import Simulation, SimulationOptions

URL = "mqtts://31106301022019000123:s%40cret@broker.example.org:8883"


def _files(directory: Path, *names: str) -> list[str]:
    """Files that exist (the settings refuse a TLS file they cannot read)."""
    for name in names:
        (directory / name).write_text("")
    return [str(directory / name) for name in names]


async def test_the_devices_connect_with_the_ca_file_of_the_settings(tmp_path: Path) -> None:
    ca, cert, key = _files(tmp_path, "ca.crt", "c.crt", "c.key")
    settings = MqttSettings(ca_file=ca, cert_file=cert, key_file=key)
    simulation = Simulation(URL, SimulationOptions(scenario=Path("alarm-button")), tls=settings)
    assert simulation.links
    for link in simulation.links.values():
        address = link.address
        assert (address.tls, address.host, address.port) == (True, "broker.example.org", 8883)
        assert (address.username, address.password) == ("31106301022019000123", "s@cret")
        assert (address.ca_file, address.cert_file, address.key_file) == (ca, cert, key)


async def test_without_settings_the_system_trust_store_verifies() -> None:
    simulation = Simulation(URL, SimulationOptions(scenario=Path("alarm-button")))
    address = next(iter(simulation.links.values())).address
    assert address.tls and address.ca_file is None


async def test_a_client_certificate_over_plain_mqtt_is_refused(tmp_path: Path) -> None:
    settings = MqttSettings(cert_file=_files(tmp_path, "c.crt")[0])
    with pytest.raises(ValueError, match="needs TLS"):
        Simulation("mqtt://u:p@127.0.0.1:1883", SimulationOptions(scenario=Path("alarm-button")), tls=settings)
