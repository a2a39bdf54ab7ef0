"""One redaction of passwords in URLs, shared by the cache, the lock and the test fixtures."""

from __future__ import annotations

import importlib

import pytest

from accord.core.urls import redact, scrub


def test_password_is_replaced_and_the_rest_kept() -> None:
    assert redact("redis://user:s3cret@10.0.0.1:6379/0") == "redis://user:***@10.0.0.1:6379/0"


def test_password_without_user_is_replaced() -> None:
    assert redact("rediss://:s3cret@cache:6380/1") == "rediss://:***@cache:6380/1"


def test_url_without_password_is_unchanged() -> None:
    assert redact("zookeeper://zk1:2181,zk2:2181/app") == "zookeeper://zk1:2181,zk2:2181/app"


def test_unparsable_url_is_still_redacted_and_never_raises() -> None:
    assert redact("redis://u:s3cret@[::1") == "redis://u:***@[::1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rediss://user:s3cret@cache:6380/1", "rediss://user:***@cache:6380/1"),
        ("unix://user:s3cret@/run/redis.sock?db=1", "unix://user:***@/run/redis.sock?db=1"),
        ("unix:///run/redis.sock?password=s3cret&db=1", "unix:///run/redis.sock?password=***&db=1"),
        (
            "redis+sentinel://:s3cret@s1:26379,s2:26379/mymaster/0?sentinel_password=s3cret2",
            "redis+sentinel://:***@s1:26379,s2:26379/mymaster/0?sentinel_password=***",
        ),
        (
            "zookeeper://alice:s3cret@zk1:2181,zk2:2181/app",
            "zookeeper://alice:***@zk1:2181,zk2:2181/app",
        ),
        ("zookeeper://alice:s3cret@zk1:2181/app?", "zookeeper://alice:***@zk1:2181/app?"),
        ("redis://:s3%2Fcret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0?password=s3%26cret", "redis://cache:6379/0?password=***"),
        ("redis://cache?PASSWORD=s3cret", "redis://cache?PASSWORD=***"),
    ],
)
def test_every_accepted_form_is_redacted(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3/cr#et@cache:6379/0",
        "redis://:s3@cr?et@cache:6379/0",
        "redis+sentinel://:s3/cr@et@s1,s2/mymaster/0",
    ],
)
def test_userinfo_password_with_unescaped_separators_is_hidden_whole(url: str) -> None:
    shown = redact(url)
    for piece in ("s3", "cr", "et@"):
        assert piece not in shown


def test_query_password_with_unescaped_hash_is_hidden_whole() -> None:
    assert redact("redis://cache/0?password=s3/cr#et") == "redis://cache/0?password=***"


def test_query_password_with_unescaped_ampersand_is_hidden_whole() -> None:
    assert redact("redis://cache/0?password=s3&cret&db=1") == "redis://cache/0?password=***&db=1"


def test_url_encoded_query_name_of_a_password_is_redacted() -> None:
    # redis-py decodes query names, so this is a password too.
    assert redact("redis://cache/0?pass%77ord=s3cret") == "redis://cache/0?pass%77ord=***"


def test_auth_query_item_is_redacted() -> None:
    assert redact("zookeeper://zk:2181/app?auth=digest:alice:s3cret") == (
        "zookeeper://zk:2181/app?auth=***"
    )


def test_query_without_secrets_is_unchanged() -> None:
    url = "redis://cache:6379/0?socket_timeout=1&weight=2"
    assert redact(url) == url


def test_secrets_of_a_url_are_scrubbed_from_a_message() -> None:
    url = "redis+sentinel://:s3cr3t/pw0rd@s1,s2/mymaster/0?sentinel_password=an0ther"
    message = "the port 's3cr3t' is bad; path 'pw0rd@s1' and an0ther, all from " + url
    scrubbed = scrub(message, url)
    for piece in ("s3cr3t", "an0ther", "pw0rd"):
        assert piece not in scrubbed
    assert "the port '***' is bad" in scrubbed


def test_scrub_hides_the_decoded_password_too() -> None:
    assert scrub("AUTH s3/cret failed", "redis://:s3%2Fcret@cache") == "AUTH *** failed"


def test_scrub_of_a_url_without_secrets_is_unchanged() -> None:
    assert scrub("cannot reach cache:6379", "redis://cache:6379") == "cannot reach cache:6379"


def test_a_value_that_is_not_a_string_is_shown_by_its_type() -> None:
    assert redact(b"redis://:s3cret@cache") == "<a bytes>"


@pytest.mark.parametrize(
    "module", ["accord.core.lock", "accord.core.lock.base", "accord.contrib.django.cache.config"]
)
def test_old_reexport_of_redact_still_works_and_warns(module: str) -> None:
    imported = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=r"import redact from accord.core.urls"):
        old = imported.redact
    assert old is redact
