"""One redaction of passwords in URLs, shared by the cache, the lock and the test fixtures."""

from __future__ import annotations

from accord.core.urls import redact


def test_password_is_replaced_and_the_rest_kept() -> None:
    assert redact("redis://user:s3cret@10.0.0.1:6379/0") == "redis://user:***@10.0.0.1:6379/0"


def test_password_without_user_is_replaced() -> None:
    assert redact("rediss://:s3cret@cache:6380/1") == "rediss://:***@cache:6380/1"


def test_url_without_password_is_unchanged() -> None:
    assert redact("zookeeper://zk1:2181,zk2:2181/app") == "zookeeper://zk1:2181,zk2:2181/app"


def test_unparsable_url_is_still_redacted_and_never_raises() -> None:
    assert redact("redis://u:s3cret@[::1") == "redis://u:***@[::1"
