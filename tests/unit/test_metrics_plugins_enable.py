"""The metrics plugins are enabled by the environment or by Django settings, and say what is wrong.

Each case runs in a fresh interpreter, as a worker or a Django process starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from accord.testing.process import free_port


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_accord_plugins_env_serves_metrics_over_http_for_a_worker() -> None:
    port = free_port()
    result = _run(
        f"""
        import urllib.request
        from accord.core.lock import Lock
        lock = Lock("job", "memory://metrics-env")
        assert lock.acquire()
        lock.release()
        text = urllib.request.urlopen("http://127.0.0.1:{port}/metrics", timeout=10).read()
        print(text.decode())
        """,
        ACCORD_PLUGINS="accord.contrib.prometheus",
        ACCORD_PROMETHEUS_PORT=str(port),
    )
    assert result.returncode == 0, result.stderr
    assert 'accord_lock_wait_seconds_count{acquired="true",backend="memory://metrics-env"} 1.0' in (
        result.stdout
    )
    assert 'accord_lock_hold_seconds_count{backend="memory://metrics-env"} 1.0' in result.stdout


def test_accord_plugins_env_naming_a_missing_module_fails_naming_it() -> None:
    result = _run(
        "from accord.core.plugins import get_plugin_manager\nget_plugin_manager()",
        ACCORD_PLUGINS="accord.contrib.prometheus, no_such_plugin_module",
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("accord.core.errors.PluginError: ACCORD_PLUGINS names the plugin")
    assert "'no_such_plugin_module'" in last


def test_a_bad_prometheus_port_is_named() -> None:
    result = _run(
        "from accord.core.plugins import get_plugin_manager\nget_plugin_manager()",
        ACCORD_PLUGINS="accord.contrib.prometheus",
        ACCORD_PROMETHEUS_PORT="nine",
    )
    last = result.stderr.strip().splitlines()[-1]
    assert "ACCORD_PROMETHEUS_PORT='nine' is not a port" in last


def test_django_setting_registers_both_plugins_at_startup() -> None:
    result = _run(
        """
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["accord.contrib.django"],
            ACCORD={"PLUGINS": ["accord.contrib.opentelemetry", "accord.contrib.prometheus"]},
        )
        django.setup()
        from accord.core.plugins import get_plugin_manager, observed
        names = dict(get_plugin_manager().list_name_plugin())
        print(sorted(n for n in names if n.startswith("accord.contrib")))
        print(observed("accord_cache_operation"))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "['accord.contrib.opentelemetry', 'accord.contrib.prometheus']",
        "True",
    ]


def test_django_setting_that_is_not_a_list_is_refused() -> None:
    result = _run(
        """
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["accord.contrib.django"],
            ACCORD={"PLUGINS": "accord.contrib.prometheus"},
        )
        django.setup()
        """
    )
    last = result.stderr.strip().splitlines()[-1]
    assert """ACCORD["PLUGINS"] = 'accord.contrib.prometheus': expected a list""" in last
