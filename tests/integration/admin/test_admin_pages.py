"""accord's admin operations pages in a real browser (headless Chromium through Selenium).

Real servers behind a real site: a Redis node is killed and the Cache page
shows it ejected; a coordinator is SIGKILLed between prepare and commit and
the 2PC page's action resolves it, after which both databases agree. Each
page is saved under ``docs/_static/`` for the docs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import SECRET, Site, log_in
from selenium.webdriver.common.by import By
from tpc_helpers import accord_prepared, item_ids, query

from accord.core.lock import Lock
from accord.core.lock.base import get_backend
from accord.testing.databases import ScratchDatabase

PAGE = "/admin/accord/operations/"


def _shot(browser: Any, name: str, where: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(600, height + 150))
    browser.save_screenshot(str(where / f"admin-{name}.png"))


def test_staff_without_the_permission_sees_no_page(admin_site: Site, browser: Any) -> None:
    log_in(browser, admin_site, "viewer")
    assert "Operations" not in browser.find_element(By.ID, "content").text
    for page in ("", "cache/", "locks/", "tpc/", "singletons/"):
        browser.get(admin_site.url + PAGE + page)
        assert "403" in browser.title or "Forbidden" in browser.page_source, page


def test_operator_finds_the_pages_from_the_admin_index(
    admin_site: Site, browser: Any, screenshots: Path
) -> None:
    log_in(browser, admin_site, "operator")
    browser.find_element(By.LINK_TEXT, "Operations").click()
    assert browser.find_element(By.LINK_TEXT, "Two-phase commit")
    _shot(browser, "index", screenshots)


def test_a_killed_node_is_shown_ejected(admin_site: Site, browser: Any, screenshots: Path) -> None:
    admin_site.get("/touch/shop/?n=200&set=1")
    log_in(browser, admin_site, "operator")
    browser.get(admin_site.url + PAGE + "cache/")
    states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.accord-state")]
    assert states == ["up", "up", "up"]
    victim = admin_site.ring_urls[0]
    admin_site.ring_servers[0].kill()
    admin_site.get("/touch/shop/?n=200")  # the site's traffic meets the dead node
    browser.get(admin_site.url + PAGE + "cache/")
    row = browser.find_element(By.CSS_SELECTOR, f"tr.accord-node[data-node='{victim}']")
    assert "out" in row.find_element(By.CSS_SELECTOR, "td.accord-state").text
    assert "ejected (1 failures" in row.text
    _shot(browser, "cache", screenshots)


def test_dry_run_of_removing_a_node_lists_its_live_keys(
    admin_site: Site, browser: Any, screenshots: Path
) -> None:
    admin_site.get("/touch/shop/?n=300&set=1")
    log_in(browser, admin_site, "operator")
    gone = admin_site.ring_urls[1]
    browser.get(admin_site.url + PAGE + f"cache/?alias=shop&remove={gone}")
    moved = int(browser.find_element(By.ID, "moved-count").text)
    rows = browser.find_elements(By.CSS_SELECTOR, "#dry-run tbody tr")
    assert 0 < moved < 300
    assert {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows} == {gone}
    _shot(browser, "cache-dry-run", screenshots)


def test_resolving_an_in_doubt_transaction_makes_the_databases_agree(
    admin_site: Site,
    browser: Any,
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    screenshots: Path,
) -> None:
    admin_site.worker.killed("write", crash_at="after-prepare-1", item_id=1)
    assert len(accord_prepared(postgres_databases[1])) == 1
    log_in(browser, admin_site, "operator")
    browser.get(admin_site.url + PAGE + "tpc/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.accord-in-doubt")) == 1
    _shot(browser, "tpc", screenshots)
    browser.find_element(By.ID, "resolve").click()
    plan = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.accord-plan td:first-child")]
    assert plan == ["would roll back"]
    assert len(accord_prepared(postgres_databases[1])) == 1  # the dry run changed nothing
    _shot(browser, "tpc-dry-run", screenshots)
    browser.find_element(By.ID, "run-recovery").click()
    assert (
        "recovery ran: rolled back"
        in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text.lower()
    )
    assert "No transaction is in doubt." in browser.find_element(By.ID, "in-doubt").text
    assert not any(accord_prepared(db) for db in postgres_databases)
    assert [item_ids(db) for db in postgres_databases] == [[100], [100]]
    logged = query(postgres_databases[0], "SELECT change_message FROM django_admin_log")
    assert len(logged) == 1
    assert logged[0][0].startswith("ran 2PC recovery: rolled back")


def test_a_decision_by_hand_needs_a_confirmation_and_is_logged(
    admin_site: Site,
    browser: Any,
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    screenshots: Path,
) -> None:
    admin_site.worker.killed("write", crash_at="after-decision", item_id=2)
    log_in(browser, admin_site, "operator")
    browser.get(admin_site.url + PAGE + "tpc/")
    browser.find_element(By.LINK_TEXT, "Commit…").click()
    assert "by hand?" in browser.find_element(By.TAG_NAME, "h2").text
    assert len(accord_prepared(postgres_databases[1])) == 1  # nothing done before confirming
    _shot(browser, "tpc-confirm", screenshots)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit].default").click()
    assert "commit recorded" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    assert [item_ids(db) for db in postgres_databases] == [[2, 100], [2, 100]]
    assert not any(accord_prepared(db) for db in postgres_databases)
    (logged,) = query(
        postgres_databases[0], "SELECT object_id, change_message FROM django_admin_log"
    )
    assert logged[1].startswith("decided commit by hand: committed on 'ledger'")


def test_locks_and_singleton_keys_are_listed_without_passwords(
    admin_site: Site, browser: Any, screenshots: Path
) -> None:
    lock = Lock("report:7", admin_site.lock_url, ttl=30)
    assert lock.acquire()
    backend = get_backend(admin_site.lock_url)
    token = backend.acquire("celery:shop.rebuild:9f2c", "task-1234", 60, 0)
    assert token is not None
    try:
        log_in(browser, admin_site, "operator")
        browser.get(admin_site.url + PAGE + "locks/")
        rows = browser.find_elements(By.CSS_SELECTOR, "tr.accord-holder")
        assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == ["report:7"]
        assert rows[0].find_elements(By.TAG_NAME, "td")[2].text == str(lock.token)
        assert SECRET not in browser.page_source
        assert "***" in browser.page_source  # the bad URL is listed, redacted, with its error
        _shot(browser, "locks", screenshots)
        browser.get(admin_site.url + PAGE + "singletons/")
        (row,) = browser.find_elements(By.CSS_SELECTOR, "tr.accord-singleton")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[:3] == ["shop.rebuild", "9f2c", "task-1234"]
        assert 50 < float(cells[4].split()[0]) <= 60
        assert SECRET not in browser.page_source
        _shot(browser, "singletons", screenshots)
    finally:
        lock.release()
        backend.release("celery:shop.rebuild:9f2c", "task-1234")


def test_pages_follow_the_admin_dark_theme(
    admin_site: Site, browser: Any, screenshots: Path
) -> None:
    log_in(browser, admin_site, "operator")
    browser.get(admin_site.url + PAGE + "cache/")
    light = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    browser.get(admin_site.url + PAGE + "cache/")
    dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light != dark
    _shot(browser, "cache-dark", screenshots)
