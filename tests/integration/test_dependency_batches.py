"""No route resolves two dependencies side by side (issue 21 item 2, fewer per-request layers).

Litestar resolves a handler's dependencies in batches: those whose own dependencies are met
together. A batch of one is awaited in place; a batch of two or more runs in an anyio task
group, a task each, which cost the pay page ~0.1 ms of CPU per request when `clock` and
`settings` were injected beside `db` (bench/RESULTS.md). Settings and the clock come from the
app's state (web/deps.settings_of, clock_of); a dependency added beside another fails here.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute


def test_every_route_resolves_its_dependencies_one_at_a_time(app: Litestar) -> None:
    side_by_side = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, kwargs_model) in route.route_handler_map.items():
            for batch in kwargs_model.dependency_batches:
                if len(batch) > 1:
                    names = sorted(d.key for d in batch)
                    side_by_side.append(f"{method} {route.path} ({handler.handler_name}): {names}")
    assert side_by_side == []


def test_settings_and_clock_are_not_dependencies(app: Litestar) -> None:
    """Read from the app's state, never injected (one way for every handler)."""
    assert not {"settings", "clock"} & set(app.dependencies)
