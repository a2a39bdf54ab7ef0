"""The metrics plugins see real two-phase commits: phases, outcomes, and recovery after a crash.

The coordinator runs in a worker process (SIGKILLed in the crash test);
recovery runs in another, with both plugins installed, and reports what they
recorded: the OpenTelemetry SDK's in-memory reader, and the Prometheus
registry scraped over HTTP.
"""

from __future__ import annotations

from tpc_helpers import Worker, accord_prepared, item_ids

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def test_a_commit_is_counted_with_each_phase_and_traced_as_three_child_spans(
    pg_pair: Worker,
) -> None:
    seen = pg_pair.run("metrics_of", scenario="write", item_id=1)
    otel, prom = seen["otel"], seen["prometheus"]
    assert otel["accord.tpc.transactions{accord.tpc.outcome=committed}"] == 1
    for phase in ("prepare", "decide", "phase two"):
        assert otel[f"accord.tpc.phase.duration.count{{accord.tpc.phase={phase}}}"] == 1
        assert prom[f"accord_tpc_phase_seconds_count{{phase={phase}}}"] == 1
    assert prom["accord_tpc_transactions_total{outcome=committed}"] == 1
    assert not [k for k in otel if k.startswith("accord.tpc.pending_branches")]
    spans = {s["name"]: s for s in seen["spans"]}
    commit = spans["accord.tpc.commit"]
    assert commit["parent"] is None
    assert commit["attributes"]["accord.tpc.participants"] == ["default", "ledger"]
    assert commit["attributes"]["accord.tpc.outcome"] == "committed"
    children = [s for s in seen["spans"] if s["parent"] == "accord.tpc.commit"]
    assert [s["name"] for s in children] == [
        "accord.tpc.prepare",
        "accord.tpc.decide",
        "accord.tpc.phase_two",
    ]
    assert commit["start"] <= children[0]["start"] <= children[-1]["end"] <= commit["end"]


def test_recovery_after_a_crash_reports_the_oldest_in_doubt_age_and_the_resolution(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    pg_pair.killed("write", crash_at="after-prepare-1", item_id=1)
    assert len(accord_prepared(postgres_databases[1])) == 1
    seen = pg_pair.run("metrics_of", scenario="recover")
    (resolution,) = seen["result"]["resolutions"]
    assert resolution["action"] == "rolled back"
    otel, prom = seen["otel"], seen["prometheus"]
    resolved = "accord.tpc.in_doubt.resolved{accord.tpc.outcome=rolled back,db.namespace=ledger}"
    assert otel[resolved] == 1
    assert prom["accord_tpc_in_doubt_resolved_total{database=ledger,outcome=rolled back}"] == 1
    assert otel["accord.tpc.in_doubt.branches{}"] == 1
    assert prom["accord_tpc_in_doubt_branches{}"] == 1
    oldest = otel["accord.tpc.in_doubt.oldest_age{}"]
    assert 0 < oldest < 60
    assert prom["accord_tpc_in_doubt_oldest_age_seconds{}"] == oldest
    assert [item_ids(db) for db in postgres_databases] == [[], []]

    again = pg_pair.run("metrics_of", scenario="recover")
    assert again["otel"]["accord.tpc.in_doubt.branches{}"] == 0
    assert again["otel"]["accord.tpc.in_doubt.oldest_age{}"] == 0
