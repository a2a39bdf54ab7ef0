"""RingCache's LOCATION and OPTIONS: accepted forms, and errors that name alias, option and fix."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from accord.contrib.django.cache.config import parse_config
from accord.core.urls import redact

URL = "redis://127.0.0.1:6379/0"


def test_semicolon_and_comma_separated_location_gives_each_node() -> None:
    config = parse_config("default", "redis://a:1/0; redis://b:2/0,redis://c:3/0", {})
    assert [n.name for n in config.nodes] == ["redis://a:1/0", "redis://b:2/0", "redis://c:3/0"]


def test_weight_in_the_url_is_read_and_removed_from_the_url() -> None:
    (node,) = parse_config("default", ["redis://a:1/0?weight=2.5"], {}).nodes
    assert (node.weight, node.url, node.name) == (2.5, "redis://a:1/0", "redis://a:1/0")


def test_dict_form_gives_name_weight_and_node_options() -> None:
    item = {"url": URL, "weight": 3, "name": "cache-1", "socket_timeout": 0.2}
    (node,) = parse_config("default", [item], {"max_connections": 5}).nodes
    assert (node.name, node.weight) == ("cache-1", 3)
    assert node.options["socket_timeout"] == 0.2
    assert node.options["max_connections"] == 5


def test_connection_defaults_make_dead_nodes_fail_fast() -> None:
    (node,) = parse_config("default", [URL], {}).nodes
    assert node.options["socket_connect_timeout"] == 1.0


def test_ring_options_are_read() -> None:
    config = parse_config("default", [URL], {"failover": "eject", "retry_after": 5, "vnodes": 64})
    options = config.options
    assert (options.failover, options.retry_after, options.vnodes) == ("eject", 5.0, 64)


@pytest.mark.parametrize("location", [None, 42, {"url": URL}, [], ""])
def test_location_of_a_wrong_type_or_empty_names_alias_and_forms(location: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['sessions'\]\['LOCATION'\].*Accepted"):
        parse_config("sessions", location, {})


@pytest.mark.parametrize(
    "url", ["http://a:1/0", "redis://", "redis://a:port/0", "redis://a:1/zero", "unix://"]
)
def test_unparsable_url_is_refused_with_the_accepted_forms(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"item 1 .*not a valid Redis URL.*Accepted"):
        parse_config("default", [url], {})


def test_password_is_redacted_in_errors_and_reprs() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_config("default", ["redis://user:s3cret@a:xx/0"], {})
    assert "s3cret" not in str(info.value)
    config = parse_config("default", [{"url": "rediss://:s3cret@a:1/0", "password": "s3cret"}], {})
    assert "s3cret" not in repr(config)
    assert config.nodes[0].name == "redis://a:1/0"  # named by host, port and db only


def test_redact_leaves_urls_without_password_alone() -> None:
    assert redact(URL) == URL


@pytest.mark.parametrize("weight", [0, -1, "abc", float("nan"), True])
def test_weight_that_is_not_positive_is_refused(weight: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['default'\].*weight.*positive"):
        parse_config("default", [{"url": URL, "weight": weight}], {})


def test_duplicate_node_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="twice"):
        parse_config("default", [URL, URL], {})


def test_unknown_option_suggests_the_close_one() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"unknown option 'failovr'.*'failover'"):
        parse_config("default", [URL], {"failovr": "miss"})


def test_unknown_per_node_option_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"item 1 has unknown option 'wieght'"):
        parse_config("default", [{"url": URL, "wieght": 2}], {})


def test_unknown_policy_lists_the_policies() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'failover'\] is 'retry'.*'raise', 'miss'"):
        parse_config("default", [URL], {"failover": "retry"})


@pytest.mark.parametrize(
    "options",
    [{"failure_threshold": 0}, {"retry_after": -1}, {"hash_tags": "yes"}, {"vnodes": 0}],
)
def test_bad_option_values_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['default'\]\['OPTIONS'\]"):
        parse_config("default", [URL], options)


def test_unknown_hash_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown hash 'sha9'"):
        parse_config("default", [URL], {"hash": "sha9"})


def test_cull_options_are_accepted_and_reported_as_ignored() -> None:
    config = parse_config("default", [URL], {"MAX_ENTRIES": 10})
    assert config.ignored_options == ("MAX_ENTRIES",)


def test_error_carries_the_system_check_id() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_config("default", [URL, URL], {})
    assert getattr(info.value, "check_id", None) == "accord.E011"


def test_a_unix_url_whose_password_has_an_unescaped_slash_is_refused_unshown() -> None:
    with pytest.raises(ImproperlyConfigured, match="must be URL-encoded") as caught:
        parse_config("default", ["unix://:s3cr/et@/run/redis.sock"], {})
    assert "s3cr" not in str(caught.value)
    assert "et@" not in str(caught.value)
