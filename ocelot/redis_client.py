"""Redis clients made from the broker URL: the one place that tells ``redis://`` from
``sentinel://``.

``OCELOT_BROKER_URL`` is a plain Redis URL (``redis://:pw@host:6379/0``) or, for a Redis
that fails over, its Sentinels separated by ``;`` as kombu spells them::

    sentinel://:pw@10.0.0.1:26379/0;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379

The user, password and ``/db`` belong to the Redis primary, not to the Sentinels; write them
on one part or repeat them alike on each. The primary's name is ``OCELOT_SENTINEL_MASTER``
(default ``mymaster``); Sentinels with a password of their own (``requirepass`` in
sentinel.conf) get ``OCELOT_SENTINEL_PASSWORD``.

Every Redis client of Ocelot (the web app's, each worker process's, the readiness checks)
comes from :func:`make_redis`, and Celery's broker from :func:`celery_broker`: with Sentinel
each new connection asks the Sentinels for the current primary, so all of them follow a
failover. Nothing here imports ``redis`` at module level: settings parse URLs with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from ocelot.errors import InvalidRequest

if TYPE_CHECKING:
    import redis

    from ocelot.settings import Settings

SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379
# With Sentinel a dead host must not hold a connection attempt for minutes: the Sentinels are
# asked again instead. Publishing from a task rides out a failover (down-after + election).
CONNECT_TIMEOUT = 5.0
SENTINEL_PUBLISH_RETRY = {
    "max_retries": 30,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


@dataclass(frozen=True)
class SentinelBroker:
    """A parsed ``sentinel://`` broker URL: where the Sentinels are, and how to log in to the
    primary they name."""

    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self, master: str) -> str:
        """For messages and logs: names the Sentinels, never the password."""
        where = ", ".join(f"{_host(h)}:{p}" for h, p in self.sentinels)
        return f"Redis primary {master!r} (db {self.db}) via Sentinel {where}"


def is_sentinel_url(url: str) -> bool:
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel_url(url: str) -> SentinelBroker:
    """Parse ``sentinel://[[user]:pw@]host[:port][/db]`` parts separated by ``;``; raise
    :class:`~ocelot.errors.InvalidRequest` saying what is wrong (never echoing a password)."""
    parts = [part.strip() for part in url.split(";") if part.strip()]
    if not parts:
        raise InvalidRequest("OCELOT_BROKER_URL names no Sentinel")
    sentinels: list[tuple[str, int]] = []
    users: set[str] = set()
    passwords: set[str] = set()
    dbs: set[int] = set()
    for number, part in enumerate(parts, 1):
        which = f"OCELOT_BROKER_URL, Sentinel {number} of {len(parts)}"
        split = urlsplit(part)
        if split.scheme.lower() != SENTINEL_SCHEME:
            raise InvalidRequest(
                f"{which}: every ';'-separated part must be a sentinel:// URL, "
                f"got a {split.scheme or 'schemeless'}:// one"
            )
        if split.query or split.fragment:
            raise InvalidRequest(f"{which}: options after '?' or '#' are not read; remove them")
        try:
            host, port = split.hostname, split.port or SENTINEL_PORT
        except ValueError:
            raise InvalidRequest(f"{which}: the port must be a number from 1 to 65535") from None
        if not host:
            raise InvalidRequest(f"{which}: no host (sentinel://HOST[:PORT])")
        sentinels.append((unquote(host), port))
        if split.username:
            users.add(unquote(split.username))
        if split.password:
            passwords.add(unquote(split.password))
        path = split.path.strip("/")
        if path:
            if not path.isdigit():
                raise InvalidRequest(f"{which}: the database must be a number (/0), got /{path}")
            dbs.add(int(path))
    for what, found in (("users", users), ("passwords", passwords), ("databases", dbs)):
        if len(found) > 1:
            raise InvalidRequest(
                f"OCELOT_BROKER_URL: the Sentinels' parts name different {what}; "
                "they all stand for the same primary: write it once, or the same on each"
            )
    return SentinelBroker(
        sentinels=tuple(sentinels),
        db=next(iter(dbs), 0),
        username=next(iter(users), None),
        password=next(iter(passwords), None),
    )


def describe_broker(settings: Settings) -> str:
    """What the broker URL points at, for messages (the Sentinel form hides the password)."""
    if is_sentinel_url(settings.broker_url):
        return parse_sentinel_url(settings.broker_url).describe(settings.sentinel_master)
    return f"Redis at {settings.broker_url}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _sentinel_kwargs(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """How to talk to the Sentinels themselves: the same socket options, their own password."""
    kwargs = {k: v for k, v in options.items() if k.startswith("socket_")}
    if settings.sentinel_password:
        kwargs["password"] = settings.sentinel_password
    return kwargs


def make_redis(settings: Settings, **options: Any) -> redis.Redis:
    """A client of the broker's Redis; with Sentinel, of whichever server is the primary now
    (a connection that drops reconnects to the new one). ``options`` go to the connections
    (``socket_connect_timeout=3``)."""
    import redis
    from redis.sentinel import Sentinel

    if not is_sentinel_url(settings.broker_url):
        return redis.Redis.from_url(settings.broker_url, **options)
    broker = parse_sentinel_url(settings.broker_url)
    options = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_keepalive": True, **options}
    sentinel = Sentinel(
        list(broker.sentinels), sentinel_kwargs=_sentinel_kwargs(settings, options), **options
    )
    return sentinel.master_for(
        settings.sentinel_master,
        db=broker.db,
        username=broker.username,
        password=broker.password,
    )


def celery_broker(settings: Settings) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """Celery's broker URL, its transport options, and its publish retry policy (None: the
    default). For Sentinel every part carries the primary's login and db: kombu reads them
    from whichever part it is connected through, and moves to the next part on errors."""
    if not is_sentinel_url(settings.broker_url):
        return settings.broker_url, {}, None
    broker = parse_sentinel_url(settings.broker_url)
    login = ""
    if broker.username or broker.password:
        login = f"{quote(broker.username or '', safe='')}:{quote(broker.password or '', safe='')}@"
    url = ";".join(
        f"{SENTINEL_SCHEME}://{login}{_host(host)}:{port}/{broker.db}"
        for host, port in broker.sentinels
    )
    options: dict[str, Any] = {"master_name": settings.sentinel_master}
    sentinel_kwargs = _sentinel_kwargs(settings, {"socket_connect_timeout": CONNECT_TIMEOUT})
    options["sentinel_kwargs"] = sentinel_kwargs
    return url, options, dict(SENTINEL_PUBLISH_RETRY)
