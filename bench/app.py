"""The benchmark's WSGI app: the real app plus a bare route, added here only (never in app/).

`/bench/bare` goes through the same app and the same before/after-request hooks (request id,
body checks, credential resolution, headers) as every route, but has no credential, no rate limit,
no database work and no schema: the floor to compare the authenticated route against.
"""

from app import create_app
from app.core import ratelimit

app = create_app()


@app.get("/bench/bare")
@ratelimit.exempt
def bare():
    return "ok"
