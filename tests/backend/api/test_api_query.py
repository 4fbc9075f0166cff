"""Query parameters: declared once per route, and nothing else accepted.

The router walk proves the rule for every route the app registers, including
the execution layer's (their handlers are never reached: the query is
refused first), so a route added later cannot silently ignore a misspelt
filter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from backend.api.openapi import routes_of
from backend.api.routes.execution import routes as execution_routes
from backend.schemas import FlowListQuery, FlowStatus, JobSearchQuery, TaskStatsQuery, WsQuery
from backend.settings import Settings
from tests.backend.api.api_helpers import Api


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_route_refuses_an_unknown_query_parameter_by_name(
    make_api: Callable[..., Awaitable[Api]], settings: Settings
) -> None:
    api = await make_api(settings, extra_routes=[execution_routes])
    walked = 0
    for method, path, _op in routes_of(api.app):
        resp = await api.client.request(
            method, _concrete(path) + "?bogus_param=1", headers=api.auth()
        )
        assert resp.status == 422, (method, path, resp.status)
        error = (await resp.json())["error"]
        assert error["path"] == "query.bogus_param", (method, path)
        assert error["code"] == "unknown_query_parameter"
        assert "bogus_param" in error["message"]
        walked += 1
    assert walked >= 15


async def test_the_desktop_misspelling_search_is_refused(api: Api) -> None:
    resp = await api.client.get("/flows?search=nightly", headers=api.auth())
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["path"] == "query.search"
    assert "q" in error["message"]  # names what the route accepts


async def test_documented_parameters_are_the_query_models_fields(api: Api) -> None:
    doc = await (await api.client.get("/openapi.json")).json()
    expected = {
        ("/flows", "get"): FlowListQuery,
        ("/jobs", "get"): JobSearchQuery,
        ("/ws", "get"): WsQuery,
        ("/stats/tasks", "get"): TaskStatsQuery,
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            names = [p["name"] for p in op["parameters"] if p["in"] == "query"]
            model = expected.get((path, method))
            fields = [] if model is None else list(model.model_fields)
            # a map field (`meta.KEY`) has no fixed name: the operation describes it
            assert names == [f for f in fields if f not in ((model and model.prefixed) or ())], (
                path,
                method,
            )
    assert "`meta.KEY=VALUE`" in doc["paths"]["/flows"]["get"]["description"]


async def test_query_values_are_parsed_strictly(api: Api) -> None:
    for query in ("limit=%205", "limit=5.0", "limit=1_0", "limit=%2B5", "limit=5&limit=6"):
        resp = await api.client.get(f"/flows?{query}", headers=api.auth())
        assert resp.status == 422, query
        assert (await resp.json())["error"]["path"] == "query.limit"
    resp = await api.client.get("/flows?limit=5&q=", headers=api.auth())
    assert resp.status == 200


def test_clients_build_queries_from_the_same_models() -> None:
    assert FlowListQuery(limit=10, q="night").to_query() == {"limit": "10", "q": "night"}
    assert WsQuery(since=4).to_query() == {"since": "4"}
    assert FlowListQuery(
        status=[FlowStatus.FAILED, FlowStatus.CANCELLED], meta={"customer": "acme"}, sort="duration"
    ).to_query() == {
        "status": ["failed", "cancelled"],
        "meta.customer": "acme",
        "sort": "duration",
    }


async def test_task_stats_window_is_validated_and_defaults_to_an_hour(api: Api) -> None:
    for query in ("window=0", "window=604801", "window=abc", "window=-5", "window=1.5", "hours=1"):
        resp = await api.client.get(f"/stats/tasks?{query}", headers=api.auth())
        assert resp.status == 422, query
        path = (await resp.json())["error"]["path"]
        assert path == ("query.hours" if query.startswith("hours") else "query.window"), query
    resp = await api.client.get("/stats/tasks", headers=api.auth())
    assert resp.status == 200
    body = await resp.json()
    assert (body["window"], body["items"]) == (3600, [])
    assert (await api.client.get("/stats/tasks?window=60")).status == 401
