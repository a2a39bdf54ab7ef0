"""Every code sample of the docs runs, against real servers, so the docs cannot rot.

How a sample runs is said by an rst comment before it (``.. sample: MODE``);
see ``docs_samples.py`` next to this file. Each page runs in its own process
(Django can be configured once per process), with three Redis nodes and two
scratch PostgreSQL databases, which the samples' example addresses are
pointed at: ``10.0.0.1:6379`` is the first Redis node; on pages that name a
ZooKeeper ensemble (``zk1:2181,...``) a real ZooKeeper stands for it. The
Celery page also starts a real prefork worker (see ``docs_samples.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from docs_samples import ROOT, samples

from accord.testing import RedisServer, ScratchDatabase, ZooKeeperServer

DOCS = ROOT / "docs"
RUNNER = Path(__file__).with_name("docs_samples.py")
# Pages written by others while this suite was built; their samples are not
# marked yet. Remove a page from here once its samples run. (docs/api/*.rst
# are autodoc directives only: no samples.)
NOT_YET: set[str] = set()
PAGES = sorted(p.name for p in DOCS.glob("*.rst") if p.name not in NOT_YET and samples(p))
#: The example ZooKeeper ensemble of the docs, served by one real ZooKeeper.
ZOOKEEPER_EXAMPLE = "zk1:2181,zk2:2181,zk3:2181"


def test_pages_with_samples_are_found() -> None:
    assert {"plugins.rst", "checks.rst", "ring.rst", "tpc.rst", "lock.rst", "celery.rst"} <= set(
        PAGES
    )
    assert not [p.name for p in (DOCS / "api").glob("*.rst") if samples(p)]


@pytest.mark.parametrize("page", PAGES)
def test_every_sample_of_the_page_runs(
    page: str,
    request: pytest.FixtureRequest,
    redis_nodes: Callable[..., list[RedisServer]],
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
) -> None:
    nodes = redis_nodes(3)
    first, second = postgres_databases
    addresses = {"10.0.0.1:6379": nodes[0].url.removeprefix("redis://")}
    if ZOOKEEPER_EXAMPLE in (DOCS / page).read_text():
        zookeeper: ZooKeeperServer = request.getfixturevalue("zookeeper_server")
        addresses[ZOOKEEPER_EXAMPLE] = zookeeper.hosts
    env = {
        **os.environ,
        "SHOP_CACHE_NODES": ";".join(f"{n.url}/0" for n in nodes),
        "SHOP_ORDERS_DB": first.url,
        "SHOP_LEDGER_DB": second.url,
        "DOCS_DATABASES": json.dumps([db.django_settings() for db in postgres_databases]),
        "DOCS_ADDRESSES": json.dumps(addresses),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(DOCS / page)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    assert report["ran"], report
    assert report["not run"] == [], report
