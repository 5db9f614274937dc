"""The benchmark's WSGI app: the real app plus two routes, added here only (never in app/).

`/bench/bare` goes through the same app and the same before/after-request hooks (request id,
body checks, credential resolution, headers) as every route, but has no credential, no rate limit,
no database work and no schema: the floor to compare the authenticated route against.

`/bench/unmetered/workspaces/<id>` is `GET /api/v1/workspaces/<id>` itself (the same view, auth
and rate limit) with only the `api_calls` metering skipped: metering's cost is the difference.
"""

from flask import request

from app import create_app
from app.core import ratelimit
from app.entitlements import metering

UNMETERED = "/bench/unmetered/"

app = create_app()


@app.get("/bench/bare")
@ratelimit.exempt
def bare():
    return "ok"


app.add_url_rule(
    UNMETERED + "workspaces/<string:workspace_id>",
    endpoint="bench_unmetered_workspace",
    view_func=app.view_functions["workspaces.WorkspaceItem"],
)


def _metered_unless_unmetered():
    if not request.path.startswith(UNMETERED):
        return metering.count_request()
    return None


hooks = app.before_request_funcs[None]
hooks[hooks.index(metering.count_request)] = _metered_unless_unmetered
