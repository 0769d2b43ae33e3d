"""Broker URLs: plain Redis or a list of Sentinels, parsed once into clients and Celery's
options (ocelot/redis_client.py). No server is reached here."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from ocelot.errors import InvalidRequest
from ocelot.redis_client import (
    SentinelBroker,
    celery_broker,
    describe_broker,
    is_sentinel_url,
    make_redis,
    parse_sentinel_url,
)
from ocelot.settings import Settings, load_settings
from worker.factory import make_celery

THREE = "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://10.0.0.2:26380;sentinel://10.0.0.3"


def settings_for(url: str, **env: str) -> Settings:
    return load_settings({"OCELOT_HOME": "/x", "OCELOT_BROKER_URL": url, **env})


def test_several_sentinels_with_password_and_db_on_one_part() -> None:
    broker = parse_sentinel_url(THREE)
    assert broker == SentinelBroker(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)),
        db=2,
        username=None,
        password="s3cret",
    )
    assert "s3cret" not in repr(broker)


def test_user_password_repeated_alike_percent_encoded_and_ipv6() -> None:
    url = "SENTINEL://ci:p%40ss@[::1]:26379/1 ; sentinel://ci:p%40ss@h2/1;"
    broker = parse_sentinel_url(url)
    assert broker.sentinels == (("::1", 26379), ("h2", 26379))
    assert (broker.username, broker.password, broker.db) == ("ci", "p@ss", 1)
    assert is_sentinel_url(url) and not is_sentinel_url("redis://h:6379/0")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sentinel://h1:26379;redis://h2:6379/0", "Sentinel 2 of 2: every ';'-separated part"),
        ("sentinel://h1;h2:26379", "Sentinel 2 of 2: every ';'-separated part"),
        ("sentinel://:pw@:26379", "Sentinel 1 of 1: no host"),
        ("sentinel://h1:port", "the port must be a number"),
        ("sentinel://h1:99999", "the port must be a number"),
        ("sentinel://h1/zero", "the database must be a number"),
        ("sentinel://h1?master_name=x", "options after '?'"),
        ("sentinel://:a@h1;sentinel://:b@h2", "name different passwords"),
        ("sentinel://h1/0;sentinel://h2/1", "name different databases"),
        (" ; ", "names no Sentinel"),
    ],
)
def test_a_malformed_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        parse_sentinel_url(url)
    assert "pw" not in caught.value.message and ":a@" not in caught.value.message


def test_settings_refuse_a_malformed_sentinel_url_at_start() -> None:
    with pytest.raises(InvalidRequest, match="OCELOT_BROKER_URL, Sentinel 1 of 1: no host"):
        settings_for("sentinel://")


def test_settings_read_the_master_name_and_the_sentinels_password() -> None:
    s = settings_for(THREE, OCELOT_SENTINEL_MASTER="ci-redis", OCELOT_SENTINEL_PASSWORD="sp")
    assert (s.sentinel_master, s.sentinel_password) == ("ci-redis", "sp")
    assert "'sp'" not in repr(s)
    assert settings_for(THREE).sentinel_master == "mymaster"


def test_a_plain_url_is_left_as_it_is() -> None:
    s = settings_for("redis://:pw@h:6379/3")
    assert celery_broker(s) == ("redis://:pw@h:6379/3", {}, None)
    client = make_redis(s)
    assert not isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.connection_kwargs["db"] == 3


def test_the_client_asks_the_sentinels_for_the_named_primary() -> None:
    s = settings_for(THREE, OCELOT_SENTINEL_MASTER="ci-redis", OCELOT_SENTINEL_PASSWORD="sp")
    client = make_redis(s, socket_connect_timeout=3)  # builds, connects to nothing yet
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "ci-redis"
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["password"] == "s3cret"
    manager = pool.sentinel_manager
    hosts = [c.connection_pool.connection_kwargs["host"] for c in manager.sentinels]
    assert hosts == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    sentinel_kwargs = manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["password"] == "sp" and sentinel_kwargs["socket_connect_timeout"] == 3


def test_celery_gets_every_sentinel_with_the_primarys_login_and_the_master_name() -> None:
    s = settings_for(THREE, OCELOT_SENTINEL_PASSWORD="sp")
    url, options, retry = celery_broker(s)
    assert url == (
        "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://:s3cret@10.0.0.2:26380/2;"
        "sentinel://:s3cret@10.0.0.3:26379/2"
    )
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"]["password"] == "sp"
    assert retry is not None and retry["max_retries"] > 3  # rides out a failover
    app = make_celery(s)
    assert app.conf.broker_transport_options["master_name"] == "mymaster"
    assert app.conf.broker_transport_options["visibility_timeout"] == 3600
    assert app.conf.task_publish_retry_policy == retry
    with app.connection_for_write() as conn:  # kombu reads the same URL: no connection yet
        assert conn.transport_cls == "sentinel"
        assert [u.split("@")[1] for u in conn.alt] == [
            "10.0.0.1:26379/2",
            "10.0.0.2:26380/2",
            "10.0.0.3:26379/2",
        ]


def test_messages_name_the_sentinels_not_the_password() -> None:
    text = describe_broker(settings_for(THREE))
    assert text == (
        "Redis primary 'mymaster' (db 2) via Sentinel 10.0.0.1:26379, 10.0.0.2:26380, "
        "10.0.0.3:26379"
    )
