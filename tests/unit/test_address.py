"""BrokerAddress from SEMON_MQTT_URL: schemes, percent-decoded credentials, TLS settings."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from semon.mqtt.client import BrokerAddress, MqttError, TlsFilesError


def test_credentials_are_percent_decoded() -> None:
    a = BrokerAddress.from_url("mqtt://user:p%40ss@broker.example:1884")
    assert (a.host, a.port, a.username, a.password, a.tls) == ("broker.example", 1884, "user", "p@ss", False)


def test_mqtts_defaults_to_8883_and_a_verifying_context() -> None:
    a = BrokerAddress.from_url("mqtts://svc@broker.example")
    assert (a.port, a.tls, a.username, a.password) == (8883, True, "svc", None)
    context = a.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_plain_url_has_no_context_and_no_credentials() -> None:
    a = BrokerAddress.from_url("mqtt://127.0.0.1")
    assert (a.port, a.username, a.password, a.ssl_context()) == (1883, None, None, None)


@pytest.mark.parametrize("url", ["http://h:1", "ws://h:1", "h:1883", ""])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="scheme"):
        BrokerAddress.from_url(url)


def test_a_client_certificate_needs_tls() -> None:
    with pytest.raises(ValueError, match="TLS"):
        BrokerAddress.from_url("mqtt://h", cert_file="c.pem", key_file="k.pem")
    with pytest.raises(ValueError, match="certificate"):
        BrokerAddress.from_url("mqtts://h", key_file="k.pem")


def test_a_missing_tls_file_is_a_configuration_error_naming_it_not_an_outage(tmp_path: Path) -> None:
    """Not an OSError nor an MqttError: ``semon.periodic`` would take it for the broker away."""
    a = BrokerAddress.from_url("mqtts://h", ca_file="/nonexistent/ca.pem")
    with pytest.raises(TlsFilesError, match=re.escape("CA file /nonexistent/ca.pem")) as caught:
        a.ssl_context()
    assert not isinstance(caught.value, OSError | MqttError)
    garbage = tmp_path / "client.pem"
    garbage.write_text("not a certificate")
    b = BrokerAddress.from_url("mqtts://h", cert_file=str(garbage), key_file="/nonexistent/client.key")
    with pytest.raises(TlsFilesError, match=re.escape(f"certificate {garbage} with the key /nonexistent/client.key")):
        b.ssl_context()


def test_repr_never_shows_the_password() -> None:
    a = BrokerAddress.from_url("mqtts://ingest:hunter2%21@h:8883")
    assert "hunter2" not in repr(a) and "ingest" in repr(a)


@given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s), st.text(max_size=40))
def test_any_user_and_password_survive_the_url(user: str, password: str) -> None:
    url = f"mqtt://{quote(user, safe='')}:{quote(password, safe='')}@h:1883"
    a = BrokerAddress.from_url(url)
    assert (a.username, a.password, a.host, a.port) == (user, password, "h", 1883)
