"""The dashboard's ASGI app: JSON endpoints over the served runs, and static pages.

Safety (see docs/dashboard.md): the app only reads; runs are addressed by id;
a trial by an id that must be one of the run's trials; static files come from
the package's ``static`` folder only. Every response forbids scripts from
elsewhere and framing (Content-Security-Policy). With ``token`` set (a
non-loopback ``--host``) every request must carry it: ``?token=`` once (the
page then keeps it in a same-site cookie) or the ``X-Sweeplab-Token`` header.
With ``allowed_hosts`` set (loopback), a request whose Host header names
another host is refused, so a web page elsewhere cannot reach the server
through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sweeplab.dashboard import runs as R
from sweeplab.dashboard import trials as T
from sweeplab.dashboard import views as W

STATIC = Path(__file__).parent / "static"
PAGES = {"index": "index.html", "study": "study.html", "trial": "trial.html", "compare": "compare.html"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
TOKEN_COOKIE = "sweeplab_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class _Guard:
    """Security headers on every response; token and Host checks on every request."""

    def __init__(self, app, token: str | None = None, allowed_hosts=None):
        self.app, self.token, self.hosts = app, token, set(allowed_hosts) if allowed_hosts else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        req = Request(scope)
        host = (req.headers.get("host") or "").rsplit(":", 1)[0] if not (req.headers.get("host") or "").startswith("[") \
            else (req.headers.get("host") or "").split("]")[0] + "]"
        if self.hosts is not None and host not in self.hosts:
            return await PlainTextResponse("forbidden: unknown Host header", 403)(scope, receive, send)
        set_cookie = False
        cookie = f"{TOKEN_COOKIE}_{(scope.get('server') or ('', 0))[1]}"  # cookies ignore ports: one per server
        if self.token is not None:
            given = req.query_params.get("token") or req.headers.get("x-sweeplab-token") or req.cookies.get(cookie)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await PlainTextResponse("forbidden: this dashboard needs the token printed at its start "
                                               "(?token=...)", 403)(scope, receive, send)
            # a page opened with ?token= keeps it in a cookie for its own requests
            set_cookie = "token" in req.query_params and req.cookies.get(cookie) != self.token

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                            (b"cache-control", b"no-store")]
                if set_cookie:
                    headers.append((b"set-cookie", f"{cookie}={self.token}; Path=/; HttpOnly; "
                                                   "SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Dashboard:
    """The served runs and the one thread that reads them."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r) for r in roots]
        self.entries: dict[str, R.RunEntry] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweeplab-dashboard")
        # per-trial figures take seconds to draw: on their own thread, so polling stays fast
        self.figures = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweeplab-figures")

    def refresh(self) -> dict[str, R.RunEntry]:
        """Find the runs again (new ones appear, removed ones go; cached views are kept)."""
        found = R.discover(self.roots)
        self.entries = {rid: self.entries.get(rid, e) for rid, e in found.items()}
        return self.entries

    def entry(self, rid: str) -> R.RunEntry:
        e = self.entries.get(rid) or self.refresh().get(rid)
        if e is None:
            raise W.NotFound(f"no run {rid!r} is served here")
        return e

    async def call(self, fn, *args, pool=None, **kw):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool or self.pool, lambda: fn(*args, **kw))


def _json(data, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _handler(dash: Dashboard, fn, then=None):
    """An endpoint running ``fn(request)`` on the reader thread (and ``then(result, request)``
    on the figure thread, when given)."""
    async def endpoint(request: Request):
        try:
            out = await dash.call(fn, request)
            if then is not None:
                out = await dash.call(then, out, request, pool=dash.figures)
            return _json(out)
        except W.NotFound as exc:
            return _json({"error": str(exc)}, 404)
        except Exception as exc:
            from sweeplab.store import StoreError

            if isinstance(exc, StoreError):  # a damaged store: say so, keep serving the others
                return _json({"error": str(exc).splitlines()[0]}, 409)
            if isinstance(exc, (W.BadRequest, ValueError)):
                return _json({"error": str(exc)}, 400)
            raise
    return endpoint


def create_app(roots, *, token: str | None = None, allowed_hosts=LOOPBACK_HOSTS) -> Starlette:
    """The dashboard over the run directories under ``roots`` (see :func:`sweeplab.dashboard.runs.discover`).

    Args:
        token: required on every request when set (a non-loopback host).
        allowed_hosts: Host header names accepted (None: any, for a non-loopback host with a token).
    """
    dash = Dashboard([Path(r) for r in roots])
    dash.refresh()
    dash.pool.submit(W.warm_up)  # on the reader thread, while the user opens the browser

    def q(request, name, default=None):
        return request.query_params.get(name, default)

    def run_list(request):
        return {"runs": [W.run_row(e) for e in sorted(dash.refresh().values(), key=lambda e: str(e.path))]}

    def run_summary(request):
        return W.summary(W.view(dash.entry(request.path_params["rid"])), q(request, "metric"))

    def run_analyses(request):
        return W.analyses(W.view(dash.entry(request.path_params["rid"])), q(request, "metric"))

    def run_configs(request):
        v = W.view(dash.entry(request.path_params["rid"]))
        desc = q(request, "desc")
        try:
            offset, limit = int(q(request, "offset", 0)), int(q(request, "limit", 50))
        except ValueError:
            raise W.BadRequest("offset, limit: integers") from None
        return W.configs(v, metric=q(request, "metric"), sort=q(request, "sort"),
                         desc=None if desc is None else desc in ("1", "true"), q=q(request, "q", ""),
                         offset=offset, limit=limit)

    def run_curves(request):
        v = W.view(dash.entry(request.path_params["rid"]))
        cid = q(request, "config") or (v.table(v.metric(q(request, "metric")))["config_id"].iloc[0]
                                        if not v.rd.trials.empty else None)
        if cid is None:
            raise W.NotFound("the run has no finished trials")
        return T.curves(v, str(cid), q(request, "metric"))

    def run_heatmap(request):
        v = W.view(dash.entry(request.path_params["rid"]))
        return W.heatmap(v, v.metric(q(request, "metric")), q(request, "row"), q(request, "col")) or {}

    def run_view(request):
        return W.view(dash.entry(request.path_params["rid"]))

    def run_trial(v, request):
        return T.trial(v, request.path_params["tid"])

    def page(name):
        async def serve(request: Request):
            return FileResponse(STATIC / PAGES[name], media_type="text/html")
        return serve

    async def not_found(request: Request, exc):
        return PlainTextResponse("not found", 404)

    routes = [
        Route("/", page("index")),
        Route("/run/{rid:str}", page("study")),
        Route("/run/{rid:str}/trial/{tid:str}", page("trial")),
        Route("/compare", page("compare")),
        Route("/api/runs", _handler(dash, run_list)),
        Route("/api/runs/{rid:str}/summary", _handler(dash, run_summary)),
        Route("/api/runs/{rid:str}/analyses", _handler(dash, run_analyses)),
        Route("/api/runs/{rid:str}/configs", _handler(dash, run_configs)),
        Route("/api/runs/{rid:str}/curves", _handler(dash, run_curves)),
        Route("/api/runs/{rid:str}/heatmap", _handler(dash, run_heatmap)),
        Route("/api/runs/{rid:str}/trials/{tid:str}", _handler(dash, run_view, then=run_trial)),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found},
                    middleware=[Middleware(_Guard, token=token, allowed_hosts=allowed_hosts)])
    app.state.dashboard = dash
    return app


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    import secrets

    return secrets.token_urlsafe(18)


__all__ = ["create_app", "is_loopback", "new_token", "STATIC"]
