"""The notice outbox: deliver pending notices by signed webhook and by e-mail, at least once.

A pass claims a batch of due rows with ``FOR UPDATE SKIP LOCKED`` and keeps the transaction
open while it sends, so two workers never send the same notice at once, and a worker that dies
mid-batch leaves its rows pending: they are sent again. The idempotency key goes with every
copy (``X-Semon-Notice-Key``, and the e-mail's ``Message-ID``) so that the receiver can drop
the repeat. A failed send is retried with capped, jittered exponential backoff, and the row
shows it (attempts, last_error, next_attempt_at) until it is delivered or, after
``NoticeSettings.max_attempts``, failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import TracebackType
from typing import Any, Self

import aiohttp
import aiosmtplib
import orjson
import psycopg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from aiohttp.resolver import ThreadedResolver
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from yarl import URL

from registry.due import DESIGN_LIFE, SELF_TEST
from registry.notices import NOTIFY_CHANNEL, STALE_REASON_SQL, STILL_DUE_SQL
from semon.backoff import retry_delay
from semon.periodic import keep_connected
from semon.settings import BackoffSettings, NoticeSettings, SmtpSettings

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed; it will be retried."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (no address or secret, a mailbox refused): the notice fails now."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A pending notice, locked by this worker, with its recipient's current addresses."""

    id: int
    key: str
    kind: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    recipient_code: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None


# --- signatures (pure; receivers use verify_signature) ---

def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 over "{timestamp}.{body}">``: the timestamp is signed too, so an
    old request cannot be replayed under a new one."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


SIGNATURE_TOLERANCE_S = 300.0  # a signed request older (or newer) than this is refused: no replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *,
                     tolerance_s: float = SIGNATURE_TOLERANCE_S, now: float | None = None) -> bool:
    """True when ``signature`` is ours for this body and timestamp (Unix seconds, digits only)
    and the timestamp is within ``tolerance_s`` of ``now`` (default: the clock): a captured
    request cannot be replayed after that. Receivers also drop repeats by X-Semon-Notice-Key."""
    if not _TIMESTAMP.fullmatch(timestamp) or not tolerance_s > 0:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("utf-8", "replace"))


# --- where a webhook may go ---

class RefusedAddress(OSError):
    """A webhook host that is, or resolves to, an address not on the public internet."""


def address_refusal(address: str, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str | None:
    """Why a webhook must not connect to ``address`` (an IP literal), or None when it may:
    loopback, private, link-local, multicast, reserved, unspecified, shared or any other
    non-global address (an IPv4 address inside IPv6, mapped, 6to4 or Teredo, counts as itself),
    unless one of the ``allowed`` networks holds it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None) if v4]
    if any(c in net for c in candidates for net in allowed if c.version == net.version):
        return None
    for c in candidates:
        for what in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
            if getattr(c, f"is_{what}"):
                return what.replace("_", "-")
        if not c.is_global:
            return "not global"
    return None


def allowed_networks(entries: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``webhook_allow_addresses`` as networks; ValueError naming a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"webhook_allow_addresses: {entry!r} is not an address or network") from exc
    return tuple(networks)


class _PublicResolver(AbstractResolver):
    """DNS for webhooks: every address a name resolves to is checked, and the connection is made
    to the checked addresses only (aiohttp connects to what the resolver returns), so a second
    lookup (DNS rebinding) cannot send it elsewhere."""

    def __init__(self, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        self._inner = ThreadedResolver()
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            why = address_refusal(result["host"], self._allowed)
            if why is not None:
                raise RefusedAddress(f"webhook host resolves to a {why} address")
        return results

    async def close(self) -> None:
        await self._inner.close()


# --- e-mail (pure) ---

CATEGORY_ZH = {
    "elevator": "电梯", "boiler": "锅炉", "pressure_vessel": "压力容器", "pressure_piping": "压力管道",
    "gas_cylinder": "气瓶", "crane": "起重机械", "in_plant_vehicle": "场(厂)内专用机动车辆",
    "large_amusement_ride": "大型游乐设施", "passenger_ropeway": "客运索道",
}
SCHEDULE_ZH = {"periodic": "定期检验", "external": "外部检验", "internal": "内部检验", "hydrostatic": "耐压试验",
               "annual": "年度检验", SELF_TEST: "自行检测", "design_life": "设计使用年限"}


def message_id(key: str, sender: str) -> str:
    """A Message-ID fixed by the notice key: every copy of one notice is the same message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "semon.invalid"
    return f"<notice.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def _party(value: object) -> str:
    if not isinstance(value, dict) or not value.get("name"):
        return "-"
    phone = value.get("phone")
    return f"{value['name']} ({phone})" if phone else str(value["name"])


def email_message(notice: Claimed, sender: str, now: datetime) -> EmailMessage:
    p = notice.payload
    code, due, schedule = p["registration_code"], p["due_date"], str(p["schedule"])
    schedule_zh = SCHEDULE_ZH.get(schedule, schedule)
    category = str(p.get("category"))
    days = p.get("days_overdue", 0)
    if schedule == SELF_TEST:  # the owner's self-test (TSG T7008-2023), not the agency's inspection
        if notice.kind == "overdue":
            subject = f"【自行检测超期通知】{code} 自行检测已超期{days}天 / Self-test overdue by {days} days: {code}"
            duty = ("电梯自行检测已超期，使用单位应当立即安排自行检测。\n"
                    "The elevator's self-test is overdue: the owner must have it done at once.")
        else:
            subject = f"【自行检测到期提醒】{code} 自行检测将于{due}到期 / Self-test due {due}: {code}"
            duty = ("使用单位应当在到期前安排电梯自行检测（由维保单位或检验检测机构实施）。\n"
                    "The owner must have the elevator's self-test done before the due date "
                    "(by its maintenance unit or an agency).")
    elif schedule == DESIGN_LIFE:  # the end of a cylinder's use (TSG 23-2021), not an inspection
        if notice.kind == "overdue":
            subject = (f"【设计使用年限届满】{code} 已超过设计使用年限{days}天 / "
                       f"Past its design life by {days} days: {code}")
        else:
            subject = f"【设计使用年限到期提醒】{code} 设计使用年限将于{due}届满 / Design life ends {due}: {code}"
        duty = ("达到设计使用年限的气瓶应当报废，不得继续使用（TSG 23-2021）。\n"
                "A cylinder at the end of its design life must be scrapped, not used or inspected again.")
    elif notice.kind == "overdue":
        subject = (f"【定期检验超期通知】{code} {schedule_zh}已超期{days}天 / "
                   f"Periodic inspection overdue by {days} days: {code}")
        duty = ("未经定期检验或者检验不合格的特种设备，不得继续使用。\n"
                "A unit not inspected must not be used.")
    else:
        subject = f"【定期检验到期提醒】{code} {schedule_zh}将于{due}到期 / Periodic inspection due {due}: {code}"
        duty = ("使用单位应当在检验有效期届满的1个月以前向检验机构提出定期检验申请。\n"
                "The owner must apply to the inspection agency one month before the due date.")
    lines = [
        subject, "",
        f"设备代码 Registration code: {code}",
        f"设备类别 Category: {CATEGORY_ZH.get(category, category)} {category}",
        f"使用地点 Address: {p.get('address') or '-'}",
        f"行政区划 District: {p.get('district_code') or '-'}",
        f"检验项目 Schedule: {schedule_zh} {schedule}",
        f"检验到期日 Due date: {due}",
        f"超期天数 Days overdue: {days}",
        f"使用单位 Owner: {_party(p.get('owner'))}",
        *([f"维保单位 Maintenance: {_party(p.get('maintenance'))}"] if p.get("maintenance") else []),
        f"检验机构 Agency: {_party(p.get('agency'))}",
        "", duty, "",
        f"通知编号 Notice key: {notice.key}",
    ]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = notice.email or ""
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(notice.key, sender)
    msg["X-Semon-Notice-Key"] = notice.key
    msg.set_content("\n".join(lines))
    return msg


# --- sending ---

class Senders:
    """The clients a worker keeps open: one HTTP session (connection reuse) and the SMTP settings."""

    def __init__(self, settings: NoticeSettings, smtp: SmtpSettings) -> None:
        self._settings = settings
        self._smtp = smtp
        self._allowed = allowed_networks(settings.webhook_allow_addresses)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        # No proxy from the environment (trust_env off), no cookies kept between receivers.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s),
            connector=aiohttp.TCPConnector(resolver=_PublicResolver(self._allowed)),
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(self, notice: Claimed) -> None:
        """Raises DeliveryError (or PermanentDeliveryError) when the notice did not get through."""
        if notice.channel == "webhook":
            await self._webhook(notice)
        else:
            await self._email(notice)

    async def _webhook(self, notice: Claimed) -> None:
        if not notice.webhook_url:
            raise PermanentDeliveryError(f"{notice.recipient_code} has no webhook_url")
        if not notice.webhook_secret:
            # Unsigned notices would teach receivers to accept forgeries: fail visibly instead.
            raise PermanentDeliveryError(f"{notice.recipient_code} has no webhook_secret")
        assert self._http is not None, "use Senders as an async context manager"
        body = orjson.dumps(notice.payload)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Semon-Notice-Key": notice.key,
            "X-Semon-Timestamp": timestamp,
            "X-Semon-Signature": sign(notice.webhook_secret, timestamp, body),
        }
        url = URL(notice.webhook_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise PermanentDeliveryError("webhook_url is not an http(s) URL")
        if is_ip_address(url.host):  # a literal address is not resolved, so check it here
            why = address_refusal(url.host, self._allowed)
            if why is not None:
                raise PermanentDeliveryError(f"webhook address refused: {why}")
        try:
            # No redirects: a notice goes where the party registered, or it is not delivered.
            async with self._http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                # The status only: what the receiver says goes to the log, not to last_error,
                # which the parties' users can read.
                if not 200 <= response.status < 300:
                    log.info("notice %s: webhook of %s answered %d: %r", notice.key, notice.recipient_code,
                             response.status, (await response.content.read(200)).decode("utf-8", "replace"))
                    raise DeliveryError(f"webhook answered {response.status}")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddress):
                raise PermanentDeliveryError(f"webhook address refused: {exc.os_error}") from exc
            log.info("notice %s: webhook of %s: %s", notice.key, notice.recipient_code, exc)
            raise DeliveryError(f"webhook: cannot connect ({type(exc).__name__})") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("notice %s: webhook of %s: %r", notice.key, notice.recipient_code, exc)
            raise DeliveryError(f"webhook: {type(exc).__name__}") from exc

    async def _email(self, notice: Claimed) -> None:
        if not notice.email:
            raise PermanentDeliveryError(f"{notice.recipient_code} has no e-mail address")
        s = self._smtp
        try:
            await aiosmtplib.send(
                email_message(notice, s.sender, datetime.now(UTC)),
                hostname=s.host, port=s.port, username=s.user, password=s.password,
                start_tls=s.starttls, timeout=s.timeout_s)
        except aiosmtplib.SMTPResponseException as exc:
            error = f"smtp answered {exc.code}: {exc.message}"[:300]
            # 5xx is the server's "do not try again" (no such mailbox, refused); 4xx may pass later.
            raise (PermanentDeliveryError(error) if exc.code >= 500 else DeliveryError(error)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}: {exc}"[:300]) from exc


# --- the outbox ---

_CLAIM = f"""
SELECT n.id, n.key, n.kind, n.channel, n.payload, n.attempts, p.code, p.email, p.webhook_url, p.webhook_secret,
       {STILL_DUE_SQL} IS TRUE AS still_due, {STALE_REASON_SQL} AS stale_reason
FROM notices n
JOIN parties p ON p.id = n.recipient_id
LEFT JOIN equipment e ON e.registration_code = n.registration_code
LEFT JOIN equipment_schedules s ON s.registration_code = n.registration_code AND s.schedule = n.schedule
WHERE n.state = 'pending' AND n.next_attempt_at <= %s
ORDER BY n.next_attempt_at
LIMIT %s
FOR UPDATE OF n SKIP LOCKED
"""

_RECORD = """
UPDATE notices n
SET state = r.state, attempts = n.attempts + r.tried, last_error = coalesce(r.error, n.last_error),
    next_attempt_at = coalesce(r.next_at, n.next_attempt_at),
    delivered_at = CASE WHEN r.state = 'delivered' THEN now() END  -- the database's clock, not the pass's
FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::timestamptz[])
    AS r (id, state, tried, error, next_at)
WHERE n.id = r.id
"""


@dataclass(frozen=True, slots=True)
class _Outcome:
    id: int
    state: str
    tried: int  # 0 for a cancellation: nothing was sent
    error: str | None = None
    next_at: datetime | None = None


async def _attempt(senders: Senders, notice: Claimed, settings: NoticeSettings, now: datetime) -> _Outcome:
    try:
        await senders.send(notice)
    except DeliveryError as exc:
        error, permanent = str(exc), isinstance(exc, PermanentDeliveryError)
    except Exception as exc:  # a bug must not wedge the batch; the row records it and retries
        log.exception("notice %s: unexpected error while sending", notice.key)
        error, permanent = f"unexpected: {type(exc).__name__}: {exc}"[:300], False
    else:
        return _Outcome(notice.id, "delivered", 1)
    attempts = notice.attempts + 1
    if permanent or attempts >= settings.max_attempts:
        log.warning("notice %s failed after %d attempts: %s", notice.key, attempts, error)
        return _Outcome(notice.id, "failed", 1, error)
    delay = retry_delay(attempts, settings.retry_initial_s, settings.retry_max_s)
    log.info("notice %s: attempt %d failed (%s); retry in %.0fs", notice.key, attempts, error, delay)
    return _Outcome(notice.id, "pending", 1, error, now + timedelta(seconds=delay))


async def _record(conn: AsyncConnection, outcomes: list[_Outcome]) -> None:
    await conn.execute(_RECORD, (
        [o.id for o in outcomes], [o.state for o in outcomes], [o.tried for o in outcomes],
        [o.error for o in outcomes], [o.next_at for o in outcomes]))


async def _deliver_batch(pool: AsyncConnectionPool, settings: NoticeSettings, now: datetime,
                         senders: Senders) -> tuple[int, int]:
    """Claim, send and record one batch in one transaction; (claimed, delivered)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_CLAIM, (now, settings.batch_size))
        rows = await cur.fetchall()
        # The inspection may have been recorded since the scan: do not send what is no longer due.
        outcomes = [_Outcome(int(r[0]), "cancelled", 0, str(r[11])) for r in rows if not r[10]]
        batch = [Claimed(int(r[0]), str(r[1]), str(r[2]), str(r[3]), dict(r[4]), int(r[5]), str(r[6]),
                         r[7], r[8], r[9]) for r in rows if r[10]]
        outcomes += await asyncio.gather(*(_attempt(senders, n, settings, now) for n in batch))
        if outcomes:
            await _record(conn, outcomes)
    return len(rows), sum(o.state == "delivered" for o in outcomes)


async def deliver_due(pool: AsyncConnectionPool, settings: NoticeSettings, smtp: SmtpSettings, now: datetime, *,
                      senders: Senders | None = None) -> int:
    """Send every pending notice whose next attempt is due by ``now``, batch after batch, and
    return how many were delivered. Retries are scheduled after ``now``, so this ends. ``smtp``:
    for the senders made here when none are given."""
    async with contextlib.AsyncExitStack() as stack:
        if senders is None:
            senders = await stack.enter_async_context(Senders(settings, smtp))
        delivered = 0
        while True:
            claimed, ok = await _deliver_batch(pool, settings, now, senders)
            delivered += ok
            if claimed < settings.batch_size:
                return delivered


async def _seconds_to_next(pool: AsyncConnectionPool, settings: NoticeSettings) -> float:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT min(next_attempt_at) FROM notices WHERE state = 'pending'")
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return settings.idle_wait_s
    wait = float((row[0] - datetime.now(UTC)).total_seconds())
    # At least a second: rows already due but not claimed are locked by another worker right now.
    return min(settings.idle_wait_s, max(1.0, wait))


async def _listener(pool: AsyncConnectionPool) -> psycopg.AsyncConnection[Any]:
    """A connection of its own for LISTEN, made like the pool's: a pool connection held for
    ever would starve the sends of a small pool."""
    async def resolve(value: Any) -> Any:  # a value, or a function giving one (rotating credentials)
        if callable(value):
            value = value()
            if inspect.isawaitable(value):
                value = await value
        return value

    conninfo = str(await resolve(pool.conninfo) or "")
    kwargs = {**(await resolve(pool.kwargs) or {}), "autocommit": True}
    return await psycopg.AsyncConnection.connect(conninfo, **kwargs)


async def run_outbox(pool: AsyncConnectionPool, settings: NoticeSettings, smtp: SmtpSettings,
                     backoff_settings: BackoffSettings) -> None:
    """Deliver notices until cancelled: after each pass, sleep until the next retry is due or
    the scan announces new notices (LISTEN), whichever comes first. The LISTEN connection and
    the passes on it are kept up by the one reconnect loop (``semon.periodic.keep_connected``):
    a database away is warned about and waited out with backoff, any other failure logged with
    its traceback; the backoff starts anew after a pass that worked."""
    async with Senders(settings, smtp) as senders:

        async def connection(working: Callable[[], None]) -> None:
            async with await _listener(pool) as listener:
                await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
                while True:
                    delivered = await deliver_due(pool, settings, smtp, datetime.now(UTC), senders=senders)
                    if delivered:
                        log.info("outbox: %d notices delivered", delivered)
                    working()
                    wait = await _seconds_to_next(pool, settings)
                    async for _ in listener.notifies(timeout=wait, stop_after=1):
                        pass

        await keep_connected("outbox", connection, log=log,
                             backoff=backoff_settings.backoff())
