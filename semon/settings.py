"""The one settings object, read from ``SEMON_*`` environment variables and passed in explicitly."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from semon.districts import COUNTY_ARRIVAL_DEADLINE_S, county_codes
from semon.protocol.codes import table_names
from semon.protocol.decode import TIMESTAMP_AGE_MARGIN, DecodeLimits
from semon.protocol.models import ServiceMode
from semon.protocol.topics import Kind
from semon.today import DEFAULT_ZONE, Clock, register_today, utc_now, zone


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEMON_", frozen=True)

    # Where the services are. Unset: `semon up` starts a private broker and database.
    mqtt_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path("var")

    # Ingest
    ingest_client_id: str = "semon-ingest-1"
    # Empty: one ingester on a plain subscription. Set a group for several ingesters sharing
    # the load ($share/{group}/…); on Mosquitto 2.0 see docs/ingest.md about restarts.
    ingest_share_group: str = ""
    # `semon up` runs this many ingest processes; with more than one they share the subscription
    # (ingest_share_group, or "semon-up" if that is empty).
    ingest_processes: int = Field(default=1, ge=1, le=16)
    # Under `semon up`: the niceness the ingester, the jobs and the simulated city take, so that
    # when the CPU is short the rules engine and the API (the alarm path) are served first and the
    # telemetry waits (0: all alike).
    up_telemetry_nice: int = Field(default=10, ge=0, le=19)
    # Messages the broker may have in flight to one ingester (MQTT 5 Receive Maximum). It bounds
    # the ingester's buffer: nothing more arrives until a commit lets us acknowledge.
    ingest_receive_maximum: int = Field(default=20_000, ge=1, le=65_535)
    ingest_batch_max: int = Field(default=5_000, ge=1)
    ingest_writers: int = Field(default=2, ge=1, le=16)
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=65_535)
    # TLS for mqtts:// URLs (docs/ingest.md): the CA that signed the broker's certificate (unset:
    # the system's trust store), and an optional client certificate with its key.
    mqtt_ca_file: str | None = None
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    # How often the latest state per device is written (see ingest/state.py).
    state_flush_interval_s: float = Field(default=1.0, gt=0)
    max_payload_bytes: int = Field(default=16 * 1024, ge=64)
    # Reject telemetry of devices that are not in the equipment register (reason
    # unregistered_device); the register is re-read every registry_refresh_s.
    ingest_reject_unregistered: bool = False
    registry_refresh_s: float = Field(default=60.0, gt=0)
    # `semon up` seeds an empty register with this many generated units (0: none).
    registry_demo_units: int = Field(default=20_000, ge=0)
    max_future_skew_s: float = Field(default=300.0, ge=0)
    rejected_payload_keep_bytes: int = Field(default=1024, ge=0)

    # Retention of raw telemetry, dropped by whole chunks.
    retention_days: int = Field(default=90, ge=1)
    retention_check_interval_s: float = Field(default=3600.0, gt=0)
    # A telemetry, event or status ts more than this many days (plus one) behind the clock is
    # rejected (stale_timestamp): such a row is past retention and would only create a chunk for
    # retention to drop. Unset: retention_days. At most retention_days.
    max_timestamp_age_days: int | None = Field(default=None, ge=1)

    # The simulated city `semon up` runs for the demo (0 elevators and 0 boilers: none).
    city_elevators: int = Field(default=1000, ge=0)
    city_boilers: int = Field(default=100, ge=0)
    city_seed: int = 1
    # Mean seconds between injected faults (entrapments, door faults, boiler trips...); 0: none.
    city_fault_interval_s: float = Field(default=120.0, ge=0)

    # Rules engine: its own persistent, non-shared subscriptions, so it sees each device's
    # messages in order (several engines would need a log partitioned by device id). The device
    # topics it judges (se/{kind}/{device_id}/{channel}): their events come on a session of their
    # own (client id rules_events_client_id, default "<rules_client_id>-events"), telemetry and
    # status on rules_client_id's, so an alarm never waits behind telemetry (docs/alerts.md).
    rules_client_id: str = "semon-rules-1"
    rules_subscription: str = "se/+/+/+"
    # What the engine holds unacknowledged on the telemetry path: a backlog beyond it waits in the
    # broker's queue. 2,000 rather than the ingester's 20,000: measured under `semon up` at
    # 15,000 msg/s, a window of 20,000 put an entrapment 286 ms (median) / 3.1 s (p99) behind,
    # 2,000 put it 65 ms / 0.76 s (docs/alerts.md, "Benchmark").
    rules_receive_maximum: int = Field(default=2_000, ge=1, le=65_535)
    rules_events_client_id: str | None = None
    # The event session's broker URL, for a broker that binds the client id to the account
    # (use_username_as_clientid: deploy/mosquitto): the events account's. Unset: the engine's URL.
    rules_events_mqtt_url: str | None = None
    rules_events_receive_maximum: int = Field(default=1_000, ge=1, le=65_535)
    # Telemetry messages judged before the engine yields to its events (and everything else).
    rules_telemetry_slice: int = Field(default=200, ge=1)
    # Rule state is written and messages acknowledged this often: a crash replays at most this much.
    rules_checkpoint_interval_s: float = Field(default=1.0, gt=0)
    rules_tick_interval_s: float = Field(default=1.0, gt=0)
    rules_silent_after_s: float = Field(default=15.0, gt=0)  # 3 × the 5 s idle period
    rules_entrapment_outside_door_zone_s: float = Field(default=15.0, ge=0)
    rules_entrapment_in_door_zone_s: float = Field(default=90.0, ge=0)
    # Presence detections within the window that make a stuck car an entrapment (docs/alerts.md).
    rules_entrapment_min_detections: int = Field(default=1, ge=1)
    # Service modes in which a technician works in the car: no entrapment from telemetry. JSON list.
    rules_entrapment_held_modes: list[ServiceMode] = Field(default_factory=lambda: [ServiceMode.INSPECTION])
    # A button alarm in a car with nothing else wrong lapses after this.
    rules_alarm_button_ttl_s: float = Field(default=600.0, gt=0)
    # How far a device's time may run ahead of the engine's clock before it is pulled back.
    rules_clock_tolerance_s: float = Field(default=2.0, ge=0)
    # How far below the highest seq taken a message is late rather than a restarted counter.
    rules_reorder_window: int = Field(default=32, ge=1, le=10_000)
    # The code table of devices whose register entry names none (semon/protocol/code_tables).
    rules_code_table: str = "semon-v1"

    # Rescue incidents: deadlines from the alarm (acknowledge) and from dispatch (arrival).
    incident_ack_deadline_s: float = Field(default=120.0, gt=0)
    incident_arrival_deadline_s: float = Field(default=1800.0, gt=0)  # 30 minutes in the city
    # Per district code; the counties get an hour (semon.districts). JSON in the environment.
    incident_arrival_deadline_by_district: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(county_codes(), COUNTY_ARRIVAL_DEADLINE_S))
    incident_second_tier: str = "市级二级救援队"  # who is sent when the maintenance unit is late
    deadline_check_interval_s: float = Field(default=1.0, gt=0)

    # HTTP API, live stream and console
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65_535)
    live_queue_size: int = Field(default=1000, ge=1)  # per WebSocket subscriber

    # Console users and their sessions (alerts/auth.py). A session unused for the idle time ends;
    # any session ends at the maximum age, however busy.
    auth_session_idle_s: float = Field(default=12 * 3600.0, gt=0)
    auth_session_max_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Off for the plain-HTTP demo on 127.0.0.1; set it wherever the console is served over HTTPS.
    auth_cookie_secure: bool = False
    # Login throttling (alerts/throttle.py): after this many wrong passwords for one username from
    # one address, each further one doubles a delay from auth_login_base_delay_s (capped at the
    # window); nothing locks a username from other addresses. One address: this many logins at
    # a time, and refused for the rest of the window after this many failures, before any hashing.
    auth_login_max_failures: int = Field(default=5, ge=0)
    auth_login_window_s: float = Field(default=300.0, gt=0)
    auth_login_base_delay_s: float = Field(default=1.0, gt=0)
    auth_login_address_max_failures: int = Field(default=50, ge=1)
    auth_login_address_in_flight: int = Field(default=2, ge=1)
    # How often the live WebSockets' sessions are checked: a socket whose session ended otherwise
    # than by a logout in the same process (disabled user, expiry, another process) closes within this.
    auth_live_check_s: float = Field(default=5.0, gt=0)
    # `semon up` creates the users operator, agency (XNTJS), bureau and admin when there are no
    # users at all, with this password; unset, one generated at the first start, shown once in the
    # banner and kept in {data_dir}/demo-password (0600). Demo credentials: change them, or turn
    # this off (the systemd unit does).
    auth_demo_users: bool = True
    auth_demo_password: SecretStr | None = None

    # Inspection notices: a scan writes due and overdue notices to an outbox; a worker delivers
    # them by signed webhook and by e-mail, at least once, keyed so that receivers can drop repeats.
    # Deliver the outbox (needs SMTP and the parties' webhooks); off, notices wait as pending.
    notice_delivery: bool = False
    notice_months_before: int = Field(default=1, ge=0, le=12)  # owners must apply a month ahead; 0: no due notices
    notice_overdue_repeat_days: int = Field(default=7, ge=1)  # overdue notices repeat this often
    # The register's calendar: what "today" is for due dates, overdue, the rate, notices and the
    # checks on inspection dates (an IANA name; the machine's clock is UTC).
    notice_timezone: str = DEFAULT_ZONE
    notice_scan_interval_s: float = Field(default=6 * 3600.0, gt=0)  # idempotent: rescans only catch up
    notice_batch_size: int = Field(default=20, ge=1)  # claimed and sent concurrently, in one transaction
    notice_max_attempts: int = Field(default=8, ge=1)  # then 'failed'
    notice_retry_initial_s: float = Field(default=60.0, gt=0)
    notice_retry_max_s: float = Field(default=6 * 3600.0, gt=0)
    notice_idle_wait_s: float = Field(default=60.0, gt=0)  # longest wait for work without a NOTIFY
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Webhooks go to public addresses only (registry/outbox.py): these hosts or networks (e.g.
    # "127.0.0.1", "10.1.0.0/16", "::1") may be loopback, private or link-local all the same.
    webhook_allow_addresses: list[str] = Field(default_factory=list)
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=0, le=65_535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "semon@localhost"
    smtp_starttls: bool = True  # credentials and notices never cross the network in clear by default
    smtp_timeout_s: float = Field(default=30.0, gt=0)

    # Observability
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65_535)

    # Reconnect backoff (seconds) for the broker and the database.
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=10.0, gt=0)

    @field_validator("notice_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # ValueError with the name: refused at start, not at the first scan
        return value

    @field_validator("rules_code_table")
    @classmethod
    def _shipped_table(cls, value: str) -> str:
        known = {name for kind in Kind for name in table_names(kind)}
        if value not in known:
            raise ValueError(f"no code table {value!r}; shipped: {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _age_within_retention(self) -> Settings:
        if self.max_timestamp_age_days is not None and self.max_timestamp_age_days > self.retention_days:
            raise ValueError(f"max_timestamp_age_days ({self.max_timestamp_age_days}) exceeds retention_days "
                             f"({self.retention_days}): rows that old are dropped by retention anyway")
        return self

    def today(self, clock: Clock = utc_now) -> date:
        """The register's local date (see ``semon.today``)."""
        return register_today(self.notice_timezone, clock=clock)

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(
            max_payload_bytes=self.max_payload_bytes,
            max_future_skew=timedelta(seconds=self.max_future_skew_s),
            max_age=timedelta(days=self.max_timestamp_age_days or self.retention_days) + TIMESTAMP_AGE_MARGIN,
        )
