"""Fixtures of the admin pages' browser tests: a real site, real servers, headless Chromium.

``admin_site`` starts ``admin_site.py`` in its own process on a free loopback
port, over two PostgreSQL scratch databases (the 2PC participants, the first
holding the decision log and Django's own tables), a RingCache of three
Redis nodes and a Redis lock backend. ``browser`` is Debian's ``chromium``
driven by ``chromium-driver`` through Selenium, headless, with an empty
profile; both packages are in the Makefile's TEST_PACKAGES.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.testing.databases import ScratchDatabase
from accord.testing.errors import ServiceUnavailable
from accord.testing.process import free_port
from accord.testing.pytest_plugin import services
from accord.testing.servers import RedisServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tpc"))

from tpc_helpers import Worker  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SECRET = "s3cret-never-shown"


@dataclass
class Site:
    url: str
    worker: Worker
    ring_urls: list[str]
    ring_servers: list[RedisServer]
    lock_url: str
    process: subprocess.Popen[str]

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as reply:
            return str(reply.read().decode())


@pytest.fixture
def admin_site(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    redis_nodes: Any,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[Site]:
    first, second = postgres_databases
    databases = {"default": first.django_settings(), "ledger": second.django_settings()}
    worker = Worker(databases, {"RECOVERY_DELAY": 0})
    worker.needs_setup = True
    worker.run("write", item_id=100)  # creates the tables; one committed transaction
    ring = redis_nodes(3)
    ring_urls = [f"{s.url}/0" for s in ring]
    lock_url = f"{redis_server.url}/3"
    bad_url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/3"  # nothing listens: an error
    port = free_port()
    config = {
        "databases": databases,
        "caches": {"shop": ring_urls},
        "lock_urls": [lock_url, bad_url],
        "tpc": {"RECOVERY_DELAY": 0},
        "port": port,
    }
    log = (tmp_path / "admin_site.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "admin_site.py")],
        env={**os.environ, "ACCORD_ADMIN_TEST": json.dumps(config)},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == "READY", (tmp_path / "admin_site.log").read_text()
        yield Site(f"http://127.0.0.1:{port}", worker, ring_urls, ring, lock_url, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save their screenshots: docs/_static/ with ACCORD_SAVE_SCREENSHOTS=1
    (to refresh the docs'), else a temporary directory, so a run leaves the tree as it was."""
    if os.environ.get("ACCORD_SAVE_SCREENSHOTS") == "1":
        return HERE.parents[2] / "docs" / "_static"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def browser_installed() -> None:
    with services():
        missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
        if missing:
            raise ServiceUnavailable(
                f"headless browser tests need Debian's chromium and chromium-driver "
                f"({', '.join(missing)} not found): apt-get install chromium chromium-driver"
            )


@pytest.fixture
def browser(browser_installed: None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="accord-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(browser: Any, site: Site, user: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site.url + "/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    deadline = time.monotonic() + 10
    while "/admin/login/" in browser.current_url:
        assert time.monotonic() < deadline, browser.page_source[:2000]
        time.sleep(0.05)
