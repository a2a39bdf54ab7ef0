"""Scenarios run with both metrics plugins installed: what the plugins recorded, as JSON."""

from __future__ import annotations

from typing import Any


def _key(key: tuple[str, tuple[tuple[str, Any], ...]]) -> str:
    name, attrs = key
    return name + "{" + ",".join(f"{k}={v}" for k, v in attrs) + "}"


def metrics_of(scenario: str, **kwargs: Any) -> dict[str, Any]:
    """Run *scenario* under the OpenTelemetry and Prometheus plugins; their readings."""
    import scenarios
    import scenarios_faults

    from accord.testing.metrics import metrics_plugins

    module = scenarios if hasattr(scenarios, scenario) else scenarios_faults
    with metrics_plugins() as (otel, prom):
        result = getattr(module, scenario)(**kwargs)
        values, scraped, spans = otel.values(), prom.scrape(), otel.spans()
    by_id = {s.context.span_id: s.name for s in spans}
    return {
        "result": result,
        "otel": {_key(k): v for k, v in values.items()},
        "prometheus": {_key(k): v for k, v in scraped.items()},
        "spans": [
            {
                "name": s.name,
                "parent": by_id.get(s.parent.span_id) if s.parent else None,
                "attributes": {
                    k: v if isinstance(v, (str, int, float, bool)) else list(v)
                    for k, v in (s.attributes or {}).items()
                },
                "start": s.start_time,
                "end": s.end_time,
            }
            for s in spans
        ],
    }
