"""The installer's pure pieces: when `semon up` is a demo, what an installation leaves out, the
console's address in the banner, and which forwarded addresses a trusted proxy gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assembly.up import console_address, demo_stations, is_demo, with_demo_stations, without_demo
from semon.district_outlines import xining_outlines
from semon.settings import (
    ApiSettings,
    AuthSettings,
    CitySettings,
    IncidentSettings,
    MqttSettings,
    RegistrySettings,
    SecondTierStation,
    Settings,
)
from web.proxy import TrustedProxies


def test_only_the_private_stack_or_demo_asked_is_a_demo() -> None:
    assert is_demo(Settings())
    real = Settings(database_url="postgresql://db/semon", mqtt=MqttSettings(url="mqtt://broker"))
    assert not is_demo(real)
    assert is_demo(real, asked=True)
    assert not is_demo(Settings(database_url="postgresql://db/semon"))  # one configured: not a demo either


def test_an_installation_has_no_demo_register_city_or_users() -> None:
    settings = without_demo(Settings(city=CitySettings(elevators=5, boilers=1),
                                     registry=RegistrySettings(demo_units=9), auth=AuthSettings(demo_users=True)))
    assert (settings.city.elevators, settings.city.boilers, settings.registry.demo_units) == (0, 0, 0)
    assert settings.auth.demo_users is False


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "http://127.0.0.1:8080/"), ("::1", "http://[::1]:8080/"),
                                             ("console.centre", "http://console.centre:8080/")])
def test_the_console_address_is_the_one_a_browser_opens(host: str, shown: str) -> None:
    assert console_address(host, 8080) == shown


def test_on_every_address_the_machines_name_stands_for_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "semon-host")
    assert console_address("0.0.0.0", 8443) == "http://semon-host:8443/"


PROXIES = TrustedProxies.of(["127.0.0.1", "10.1.0.0/16"])


def test_the_client_is_the_rightmost_address_not_a_proxy() -> None:
    assert PROXIES.client("127.0.0.1", "198.51.100.7") == "198.51.100.7"
    # what the client wrote stands left of what our proxies appended
    assert PROXIES.client("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.1.2.3") == "198.51.100.7"
    assert PROXIES.client("127.0.0.1", "garbage, 198.51.100.7") == "198.51.100.7"
    assert PROXIES.client("127.0.0.1", "[2001:db8::1]:5555") == "2001:db8::1"
    assert PROXIES.client("127.0.0.1", None) == "127.0.0.1"


def test_a_stranger_cannot_choose_its_address_or_scheme() -> None:
    assert PROXIES.client("203.0.113.9", "127.0.0.1") == "203.0.113.9"
    assert PROXIES.scheme("203.0.113.9", "https", "http") == "http"
    assert PROXIES.scheme("127.0.0.1", "https", "http") == "https"
    assert PROXIES.scheme("127.0.0.1", "gopher", "http") == "http"
    assert TrustedProxies().client("127.0.0.1", "198.51.100.7") == "127.0.0.1"


@given(st.lists(st.ip_addresses().map(str), max_size=6), st.ip_addresses().map(str))
def test_the_client_is_always_the_peer_or_a_forwarded_address(chain: list[str], peer: str) -> None:
    client = PROXIES.client(peer, ", ".join(chain) or None)
    assert client == peer or client in chain
    if not PROXIES.trusts(peer):
        assert client == peer


def test_the_setting_refuses_what_is_no_address() -> None:
    with pytest.raises(ValueError, match="'nginx' is not an IP address or network"):
        ApiSettings(trusted_proxies=["nginx"])


@pytest.mark.parametrize(("command", "needs"), [
    ("up", ["SEMON_MQTT_URL", "SEMON_DATABASE_URL", "SEMON_API_PORT", "SEMON_METRICS_PORT", "SEMON_DATA_DIR",
            "--demo"]),
    ("ingest", ["SEMON_MQTT_URL", "SEMON_DATABASE_URL", "SEMON_INGEST_CLIENT_ID", "SEMON_METRICS_PORT"]),
    ("alerts", ["SEMON_MQTT_URL", "SEMON_DATABASE_URL", "SEMON_RULES_CLIENT_ID", "SEMON_API_PORT"]),
    ("migrate", ["SEMON_DATABASE_URL", "TimescaleDB"]),
])
def test_the_help_of_each_service_says_what_it_needs_with_examples(command: str, needs: list[str],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from assembly.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert "Needs:" in text and "examples:" in text and f"semon {command}" in text
    assert [n for n in needs if n not in text] == []


def test_the_demo_has_a_second_tier_station_in_each_district_unless_some_are_configured() -> None:
    stations = demo_stations()
    outlines = xining_outlines()
    assert len({s.district_code for s in stations}) == len(stations) == len(outlines)
    for station in stations:
        assert station.latitude is not None and station.longitude is not None and station.phone
        assert outlines[str(station.district_code)].contains(station.longitude, station.latitude), station
    demo = with_demo_stations(Settings())
    assert demo.incidents.second_tier_stations == stations
    own = (SecondTierStation(name="城东救援站", phone="0971-1"),)
    configured = Settings(incidents=IncidentSettings(second_tier_stations=own))
    assert with_demo_stations(configured).incidents.second_tier_stations == own
