"""The settings, read from ``SEMON_*`` environment variables and passed in explicitly, in sections:
each part of the system receives the sections it uses (the ingester ``IngestSettings`` and
``MqttSettings``, the rules engine ``RulesSettings``, the outbox ``NoticeSettings`` and
``SmtpSettings``...), not the whole, so what a part depends on is in its signature.

Each section reads its own variables: ``SEMON_<SECTION>_<FIELD>`` (``SEMON_RULES_CLIENT_ID`` is
``RulesSettings.client_id``), except where a setting's name predates the sections; such a field
names its variable as its ``validation_alias`` (``SEMON_DEADLINE_CHECK_INTERVAL_S`` is
``IncidentSettings.check_interval_s``), and answers to the section's prefix as well. A section
built on its own (``RulesSettings()``) reads the environment as ``Settings()`` does."""

from __future__ import annotations

import ipaddress
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from semon.backoff import Backoff
from semon.protocol.codes import table_names
from semon.protocol.decode import TIMESTAMP_AGE_MARGIN, DecodeLimits
from semon.protocol.models import ServiceMode
from semon.protocol.topics import Kind
from semon.today import DEFAULT_ZONE, Clock, register_today, utc_now, zone


def _section(prefix: str) -> SettingsConfigDict:
    # validate_by_name: a field with an alias (its old variable) is still set by its name in code.
    # allow_inf_nan off: no delay, limit or interval of ours means anything as inf or nan.
    return SettingsConfigDict(env_prefix=prefix, frozen=True, validate_by_name=True, allow_inf_nan=False)


class MqttSettings(BaseSettings):
    """The broker and how every client of ours connects to it."""

    model_config = _section("SEMON_MQTT_")

    # Unset: `semon up` starts a private broker.
    url: str | None = None
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    keepalive_s: int = Field(default=30, ge=5, le=65_535)
    # TLS for mqtts:// URLs (docs/ingest.md): the CA that signed the broker's certificate (unset:
    # the system's trust store), and an optional client certificate with its key.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A TLS file named must be a file this process can read (empty: unset). Refused here,
        naming the variable and the file: a missing CA is a configuration error to be told at
        start-up, not an outage for the session to retry for ever."""
        if not value:
            return None
        variable = f"SEMON_MQTT_{(info.field_name or '').upper()}"
        if not Path(value).exists():
            raise ValueError(f"{variable}={value}: no such file")
        if not Path(value).is_file():
            raise ValueError(f"{variable}={value}: not a file")
        if not os.access(value, os.R_OK):
            raise ValueError(f"{variable}={value}: the file cannot be read (permissions)")
        return value


class IngestSettings(BaseSettings):
    """The ingester (ingest/): its session, its buffer, its writers."""

    model_config = _section("SEMON_INGEST_")

    client_id: str = "semon-ingest-1"
    # Empty: one ingester on a plain subscription. Set a group for several ingesters sharing
    # the load ($share/{group}/…); on Mosquitto 2.0 see docs/ingest.md about restarts.
    share_group: str = ""
    # `semon up` runs this many ingest processes; with more than one they share the subscription
    # (share_group, or "semon-up" if that is empty).
    processes: int = Field(default=1, ge=1, le=16)
    # Messages the broker may have in flight to one ingester (MQTT 5 Receive Maximum). It bounds
    # the ingester's buffer: nothing more arrives until a commit lets us acknowledge.
    receive_maximum: int = Field(default=20_000, ge=1, le=65_535)
    batch_max: int = Field(default=5_000, ge=1)
    writers: int = Field(default=2, ge=1, le=16)
    # How often the latest state per device is written (see ingest/state.py).
    state_flush_interval_s: float = Field(default=1.0, gt=0, validation_alias="semon_state_flush_interval_s")
    # Reject telemetry of devices that are not in the equipment register (reason
    # unregistered_device); the register is re-read every RegistrySettings.refresh_s.
    reject_unregistered: bool = False
    rejected_payload_keep_bytes: int = Field(default=1024, ge=0, validation_alias="semon_rejected_payload_keep_bytes")


class TelemetrySettings(BaseSettings):
    """What telemetry is accepted (by the ingester and the rules engine alike) and how long it is
    kept. Its variables carry no section name: ``SEMON_RETENTION_DAYS`` and so on."""

    model_config = _section("SEMON_")

    max_payload_bytes: int = Field(default=16 * 1024, ge=64)
    max_future_skew_s: float = Field(default=300.0, ge=0)
    # Retention of raw telemetry, dropped by whole chunks.
    retention_days: int = Field(default=90, ge=1)
    retention_check_interval_s: float = Field(default=3600.0, gt=0)
    # A telemetry, event or status ts more than this many days (plus one) behind the clock is
    # rejected (stale_timestamp): such a row is past retention and would only create a chunk for
    # retention to drop. Unset: retention_days. At most retention_days.
    max_timestamp_age_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _age_within_retention(self) -> TelemetrySettings:
        if self.max_timestamp_age_days is not None and self.max_timestamp_age_days > self.retention_days:
            raise ValueError(f"SEMON_MAX_TIMESTAMP_AGE_DAYS ({self.max_timestamp_age_days}) exceeds "
                             f"SEMON_RETENTION_DAYS ({self.retention_days}): rows that old are dropped by "
                             "retention anyway")
        return self

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(
            max_payload_bytes=self.max_payload_bytes,
            max_future_skew=timedelta(seconds=self.max_future_skew_s),
            max_age=timedelta(days=self.max_timestamp_age_days or self.retention_days) + TIMESTAMP_AGE_MARGIN,
        )


class RegistrySettings(BaseSettings):
    """The equipment register as other parts use it: its calendar, how often they re-read it,
    the demo register of `semon up`."""

    model_config = _section("SEMON_REGISTRY_")

    # The register's calendar: what "today" is for due dates, overdue, the rate, notices and the
    # checks on inspection dates (an IANA name; the machine's clock is UTC).
    timezone: str = Field(default=DEFAULT_ZONE, validation_alias="semon_notice_timezone")
    # How often the ingester (IngestSettings.reject_unregistered) and the rules engine (its
    # devices' profiles) re-read the register.
    refresh_s: float = Field(default=60.0, gt=0)
    # `semon up` seeds an empty register with this many generated units (0: none).
    demo_units: int = Field(default=20_000, ge=0)
    # Elevators' inspection scheme: "tsg2023" (TSG T7001-2023: periodic inspection in years 1, 4,
    # 7, 9, 11, 13, 15 and yearly after, self-tests in the other years) or "yearly" (the former
    # rule, for regions that have not adopted it). By region: administrative division code
    # prefixes (2, 4 or 6 digits; the longest that matches wins), e.g. {"6301": "yearly"}. A
    # unit's own scheme (the register's `scheme`) comes before both.
    elevator_scheme: Literal["tsg2023", "yearly"] = "tsg2023"
    elevator_scheme_by_region: dict[str, Literal["tsg2023", "yearly"]] = Field(default_factory=dict)
    # The inspection rate's formula: "not_overdue", (1 − overdue / in use) × 100 (a city's
    # published 定检率), or "passed_over_due", units inspected and passed over units due.
    rate_formula: Literal["not_overdue", "passed_over_due"] = "not_overdue"
    # An inspection report's file (PDF, PNG or JPEG) the agency uploads: at most this many bytes.
    report_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # A file of inspection results uploaded from the agency's page: at most this many bytes.
    results_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # ValueError with the name: refused at start, not at the first scan
        return value

    @field_validator("elevator_scheme_by_region")
    @classmethod
    def _region_prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix in value:
            if not (prefix.isascii() and prefix.isdigit() and len(prefix) in (2, 4, 6)):
                raise ValueError(f"region {prefix!r} is not a division code prefix of 2, 4 or 6 digits")
        return value

    def today(self, clock: Clock = utc_now) -> date:
        """The register's local date (see ``semon.today``)."""
        return register_today(self.timezone, clock=clock)


class CitySettings(BaseSettings):
    """The simulated city `semon up` runs for the demo (0 elevators and 0 boilers: none)."""

    model_config = _section("SEMON_CITY_")

    elevators: int = Field(default=1000, ge=0)
    boilers: int = Field(default=100, ge=0)
    seed: int = 1
    # Mean seconds between injected faults (entrapments, door faults, boiler trips...); 0: none.
    fault_interval_s: float = Field(default=120.0, ge=0)


class RulesSettings(BaseSettings):
    """The rules engine (alerts/engine.py, alerts/rules.py)."""

    model_config = _section("SEMON_RULES_")

    # Its own persistent, non-shared subscriptions, so it sees each device's messages in order
    # (several engines would need a log partitioned by device id). The device topics it judges
    # (se/{kind}/{device_id}/{channel}): their events come on a session of their own (client id
    # events_client_id, default "<client_id>-events"), telemetry and status on client_id's, so an
    # alarm never waits behind telemetry (docs/alerts.md).
    client_id: str = "semon-rules-1"
    subscription: str = "se/+/+/+"
    # What the engine holds unacknowledged on the telemetry path: a backlog beyond it waits in the
    # broker's queue. 2,000 rather than the ingester's 20,000: measured under `semon up` at
    # 15,000 msg/s, a window of 20,000 put an entrapment 286 ms (median) / 3.1 s (p99) behind,
    # 2,000 put it 65 ms / 0.76 s (docs/alerts.md, "Benchmark").
    receive_maximum: int = Field(default=2_000, ge=1, le=65_535)
    events_client_id: str | None = None
    # The engine's own broker URL under `semon up` against a configured broker that binds client
    # ids to accounts (deploy/mosquitto: the semon-rules-1 account). Unset: SEMON_MQTT_URL.
    mqtt_url: str | None = None
    # The event session's broker URL, for a broker that binds the client id to the account
    # (use_username_as_clientid: deploy/mosquitto): the events account's. Unset: the engine's URL.
    events_mqtt_url: str | None = None
    events_receive_maximum: int = Field(default=1_000, ge=1, le=65_535)
    # Telemetry messages judged before the engine yields to its events (and everything else).
    telemetry_slice: int = Field(default=200, ge=1)
    # Rule state is written and messages acknowledged this often: a crash replays at most this much.
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    tick_interval_s: float = Field(default=1.0, gt=0)
    silent_after_s: float = Field(default=15.0, gt=0)  # 3 × the 5 s idle period
    entrapment_outside_door_zone_s: float = Field(default=15.0, ge=0)
    entrapment_in_door_zone_s: float = Field(default=90.0, ge=0)
    # Presence detections within the window that make a stuck car an entrapment (docs/alerts.md).
    entrapment_min_detections: int = Field(default=1, ge=1)
    # Service modes in which a technician works in the car: no entrapment from telemetry. JSON list.
    entrapment_held_modes: list[ServiceMode] = Field(default_factory=lambda: [ServiceMode.INSPECTION])
    # A button alarm in a car with nothing else wrong lapses after this.
    alarm_button_ttl_s: float = Field(default=600.0, gt=0)
    # How far a device's time may run ahead of the engine's clock before it is pulled back.
    clock_tolerance_s: float = Field(default=2.0, ge=0)
    # How far below the highest seq taken a message is late rather than a restarted counter.
    reorder_window: int = Field(default=32, ge=1, le=10_000)
    # The code table of devices whose register entry names none (semon/protocol/code_tables).
    code_table: str = "semon-v1"

    @field_validator("code_table")
    @classmethod
    def _shipped_table(cls, value: str) -> str:
        known = {name for kind in Kind for name in table_names(kind)}
        if value not in known:
            raise ValueError(f"no code table {value!r}; shipped: {', '.join(sorted(known))}")
        return value


class SecondTierStation(BaseModel):
    """A second-tier rescue station (网格救援站): who goes when the maintenance unit does not respond
    or arrive. ``latitude``/``longitude`` WGS84 degrees (None: unknown; the district then decides)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    phone: str | None = None
    district_code: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class IncidentSettings(BaseSettings):
    """Rescue incidents (alerts/incidents.py): the acknowledge deadline from the alarm, the
    response deadline (the rescuer confirms it is on its way; cities use 1-5 min) and the arrival
    deadline from each dispatch, per area (TSG T5002 and the 96333 centres' rules: 30 minutes in
    the urban core including county seats, an hour elsewhere), and the three levels of rescue:
    the contracted maintenance unit, the nearest second-tier station, the fire brigade."""

    model_config = _section("SEMON_INCIDENT_")

    ack_deadline_s: float = Field(default=120.0, gt=0)
    response_deadline_s: float = Field(default=300.0, gt=0)
    arrival_deadline_urban_s: float = Field(default=1800.0, gt=0)  # 30 minutes in the urban core
    arrival_deadline_other_s: float = Field(default=3600.0, gt=0)  # an hour elsewhere
    # JSON list of {name, phone, district_code, latitude, longitude}; empty: ``second_tier`` stands in.
    second_tier_stations: tuple[SecondTierStation, ...] = ()
    second_tier: str = "市级二级救援队"  # the second tier's name when no station is configured
    fire_brigade: str = "119"  # the third tier's number
    # How often the deadlines are checked (alerts/deadlines.py).
    check_interval_s: float = Field(default=1.0, gt=0, validation_alias="semon_deadline_check_interval_s")


class ApiSettings(BaseSettings):
    """The HTTP API, its live stream and the console."""

    model_config = _section("SEMON_API_")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)
    live_queue_size: int = Field(default=1000, ge=1, validation_alias="semon_live_queue_size")  # per WebSocket
    # One line per HTTP request on the logger aiohttp.access (INFO); off, the console's requests
    # do not bury the rest of the log.
    access_log: bool = False
    # Reverse proxies (addresses or networks, JSON list, e.g. ["127.0.0.1", "::1"]) whose
    # X-Forwarded-For and X-Forwarded-Proto are believed: the client's address (login throttle,
    # logs) and the scheme (https) come from them. Empty: the TCP peer, as seen (docs/deploy-https.md).
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return [item.strip() for item in value]


class AuthSettings(BaseSettings):
    """Console users and their sessions (web/auth.py)."""

    model_config = _section("SEMON_AUTH_")

    # A session unused for the idle time ends; any session ends at the maximum age, however busy.
    session_idle_s: float = Field(default=12 * 3600.0, gt=0)
    session_max_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Off for the plain-HTTP demo on 127.0.0.1; set it wherever the console is served over HTTPS.
    cookie_secure: bool = False
    # Login throttling (web/throttle.py): after this many wrong passwords for one username from
    # one address, each further one doubles a delay from login_base_delay_s (capped at the
    # window); nothing locks a username from other addresses. One address: this many logins at
    # a time, and refused for the rest of the window after this many failures, before any hashing.
    login_max_failures: int = Field(default=5, ge=0)
    login_window_s: float = Field(default=300.0, gt=0)
    login_base_delay_s: float = Field(default=1.0, gt=0)
    login_address_max_failures: int = Field(default=50, ge=1)
    login_address_in_flight: int = Field(default=2, ge=1)
    # How often the live WebSockets' sessions are checked: a socket whose session ended otherwise
    # than by a logout in the same process (disabled user, expiry, another process) closes within this.
    live_check_s: float = Field(default=5.0, gt=0)
    # `semon up` creates the users operator, agency (XNTJS), bureau and admin when there are no
    # users at all, with this password; unset, one generated at the first start, shown once in the
    # banner and kept in {data_dir}/demo-password (0600). Demo credentials: change them, or turn
    # this off (the systemd unit does).
    demo_users: bool = True
    demo_password: SecretStr | None = None


class NoticeSettings(BaseSettings):
    """Inspection notices: a scan writes due and overdue notices to an outbox; a worker delivers
    them by signed webhook and by e-mail (``SmtpSettings``), at least once, keyed so that
    receivers can drop repeats."""

    model_config = _section("SEMON_NOTICE_")

    # Deliver the outbox (needs SMTP and the parties' webhooks); off, notices wait as pending.
    delivery: bool = False
    months_before: int = Field(default=1, ge=0, le=12)  # owners must apply a month ahead; 0: no due notices
    overdue_repeat_days: int = Field(default=7, ge=1)  # overdue notices repeat this often
    scan_interval_s: float = Field(default=6 * 3600.0, gt=0)  # idempotent: rescans only catch up
    batch_size: int = Field(default=20, ge=1)  # claimed and sent concurrently, in one transaction
    max_attempts: int = Field(default=8, ge=1)  # then 'failed'
    retry_initial_s: float = Field(default=60.0, gt=0)
    retry_max_s: float = Field(default=6 * 3600.0, gt=0)
    idle_wait_s: float = Field(default=60.0, gt=0)  # longest wait for work without a NOTIFY
    webhook_timeout_s: float = Field(default=10.0, gt=0, validation_alias="semon_webhook_timeout_s")
    # Webhooks go to public addresses only (registry/outbox.py): these hosts or networks (e.g.
    # "127.0.0.1", "10.1.0.0/16", "::1") may be loopback, private or link-local all the same.
    webhook_allow_addresses: list[str] = Field(default_factory=list,
                                               validation_alias="semon_webhook_allow_addresses")


class SmtpSettings(BaseSettings):
    """The mail server the notices go out through."""

    model_config = _section("SEMON_SMTP_")

    host: str = "localhost"
    port: int = Field(default=25, ge=0, le=65_535)
    user: str | None = None
    password: str | None = None
    sender: str = Field(default="semon@localhost", validation_alias="semon_smtp_from")
    starttls: bool = True  # credentials and notices never cross the network in clear by default
    timeout_s: float = Field(default=30.0, gt=0)


class ClusterSettings(BaseSettings):
    """Cluster mode (docs/scale.md): the devices' traffic in a replicated, partitioned JetStream
    log on a NATS cluster, consumed by ingest workers sharing one consumer and by rules engines
    that each own a set of partitions keyed by device id. Off while ``nats_urls`` is empty:
    the ingester and the rules engine then take messages from their MQTT sessions."""

    model_config = _section("SEMON_CLUSTER_")

    # The cluster's NATS addresses, comma-separated (nats://host:port); empty: cluster mode off.
    nats_urls: str = ""
    # The NATS account of this process (empty: none); its password is given apart, as nats-py
    # does not read credentials in a URL.
    user: str = ""
    password: SecretStr = SecretStr("")
    # Replicas of the log (the MQTT listener's stream $MQTT_msgs, made by semon before any device
    # connects) and of the partition leases: at most the cluster's nodes.
    replicas: int = Field(default=3, ge=1, le=5)
    # How long the log keeps a message (hours), consumed or not: how long the ingest workers or a
    # partition's rules engine may all be away without losing what came meanwhile.
    retention_h: float = Field(default=24.0, gt=0)
    # Partitions of the device id (nats-server's `partition` mapping: every node's configuration
    # must give the same number, as `semon up --cluster` writes it). A partition is what one
    # rules engine owns; 12 shares evenly between 1, 2, 3, 4 or 6 engines.
    partitions: int = Field(default=12, ge=1, le=1024)
    # Messages delivered and not acknowledged before JetStream gives them to another worker (an
    # ingest worker that died), seconds.
    ack_wait_s: float = Field(default=30.0, ge=1)
    # How long a pull request waits on the server for messages before it is made again, seconds:
    # also how soon a consumer notices its server gone.
    pull_expires_s: float = Field(default=2.0, gt=0, le=60)
    # Messages the ingest workers together may hold unacknowledged (the consumer's max_ack_pending).
    ingest_max_pending: int = Field(default=40_000, ge=1)
    # A rules engine's lease on its partitions, seconds: an engine that stops renewing loses them
    # after this, and a live engine takes them over (the events of a dead engine's partitions
    # wait at most this long).
    lease_s: float = Field(default=6.0, ge=1, le=120)

    def urls(self) -> list[str]:
        return [u.strip() for u in self.nats_urls.split(",") if u.strip()]

    @property
    def enabled(self) -> bool:
        return bool(self.urls())


class MetricsSettings(BaseSettings):
    """Where a process serves its metrics."""

    model_config = _section("SEMON_METRICS_")

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65_535)


class BackoffSettings(BaseSettings):
    """Reconnect and retry backoff (seconds) for the broker, the database and the periodic jobs."""

    model_config = _section("SEMON_BACKOFF_")

    initial_s: float = Field(default=0.2, gt=0)
    max_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _initial_within_max(self) -> BackoffSettings:
        if self.initial_s > self.max_s:
            raise ValueError(f"SEMON_BACKOFF_INITIAL_S ({self.initial_s}) exceeds SEMON_BACKOFF_MAX_S ({self.max_s})")
        return self

    def backoff(self) -> Backoff:
        """A fresh ``Backoff`` (its own count of failures) with these delays."""
        return Backoff(self.initial_s, self.max_s)


class UpSettings(BaseSettings):
    """`semon up` and its parts."""

    model_config = _section("SEMON_UP_")

    # The niceness the ingester, the jobs and the simulated city take, so that when the CPU is
    # short the rules engine and the API (the alarm path) are served first and the telemetry
    # waits (0: all alike).
    telemetry_nice: int = Field(default=10, ge=0, le=19)


class Settings(BaseSettings):
    """Every section, as the composition root (assembly/) reads them and hands them out. Only
    ``SEMON_DATABASE_URL`` and ``SEMON_DATA_DIR`` are read here; each section reads its own
    variables (a variable named after a whole section, ``SEMON_API``, is nobody's and ignored).
    ``load_settings`` reads them with errors that name the variables."""

    model_config = SettingsConfigDict(env_prefix="SEMON_", frozen=True)

    # Unset: `semon up` starts a private database (and broker: MqttSettings.url).
    database_url: str | None = None
    data_dir: Path = Path("var")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    city: CitySettings = Field(default_factory=CitySettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)
    up: UpSettings = Field(default_factory=UpSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _TopLevelEnv(settings_cls)


def _sections() -> dict[str, type[BaseSettings]]:
    return {name: kind for name, field in Settings.model_fields.items()
            if isinstance(kind := field.annotation, type) and issubclass(kind, BaseSettings)}


class _TopLevelEnv(EnvSettingsSource):
    """The environment for ``Settings`` itself: its own fields only, never a whole section."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in _sections():
            return None, field_name, False
        return super().get_field_value(field, field_name)


class SettingsProblem(ValueError):
    """Settings the environment gives and semon refuses: one line per variable, each naming it,
    its value and why."""


def variable_of(section: type[BaseSettings], field_name: str) -> str:
    """The environment variable of a section's field (named by its name or its alias): the alias
    where the setting predates the sections (``SEMON_DEADLINE_CHECK_INTERVAL_S``), else
    ``<section prefix><FIELD>``."""
    for name, field in section.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        if field_name in (name, alias):
            return (alias or f"{section.model_config.get('env_prefix', '')}{name}").upper()
    return f"{section.model_config.get('env_prefix', '')}{field_name}".upper()


def _problems(section: type[BaseSettings], exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        if not error["loc"]:  # a check across fields (model_validator): its message names them
            lines.append(error["msg"].removeprefix("Value error, "))
            continue
        variable = variable_of(section, str(error["loc"][0]))
        value = "" if error["type"] == "missing" else f"={str(error['input'])[:80]!r}"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(message if message.startswith(variable) else f"{variable}{value}: {message}")
    return lines


def load_settings() -> Settings:
    """``Settings()`` from the environment. SettingsProblem listing every variable refused
    (a value out of range, not of its type, a JSON list or object that does not parse)."""
    problems: list[str] = []
    sections: dict[str, BaseSettings] = {}
    for name, section in _sections().items():
        try:
            sections[name] = section()
        except ValidationError as exc:
            problems += _problems(section, exc)
        except SettingsError as exc:  # a complex value (a JSON list) that does not parse
            variable = variable_of(section, str(exc).partition('field "')[2].partition('"')[0])
            given = next((v for k, v in os.environ.items() if k.upper() == variable), "")
            problems.append(f"{variable}={given[:80]!r}: not JSON ({exc.__cause__ or exc})")
    if problems:
        raise SettingsProblem("\n".join(problems))
    try:
        return Settings(**cast(dict[str, Any], sections))
    except ValidationError as exc:
        raise SettingsProblem("\n".join(_problems(Settings, exc))) from None
