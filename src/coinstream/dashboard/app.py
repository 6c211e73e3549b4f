"""The live dashboard: a Dash app over the SQL layer, served by waitress.

Why Dash: it is the Python dashboard framework most analysts already know (Plotly's
charts, as in the notebook), pages are plain Python, `dcc.Interval` re-reads the
lakehouse on a timer without reloading the page, and everything it serves (React,
plotly.js) comes from the wheel, so it works offline and behind a NetworkPolicy.
waitress serves it because Dash's built-in server is a development server.

The page reads the URL's query string for its parameters; a bad one replaces the
panels with a sentence saying what is wrong. A failing read (metastore down, Trino
restarting) is shown the same way and retried on the next tick; no traceback
reaches the browser.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update

import coinstream.dashboard.panels as panels
from coinstream.dashboard.params import parse_params
from coinstream.dashboard.snapshot import Snapshot, take_snapshot
from coinstream.logs import get_logger
from coinstream.sql import DuckDBEngine, Engine, Investor, QueryError
from coinstream.sql.live import LiveQueries

log = get_logger(__name__)

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em 0; } h2 { font-size: 1.05em; margin: .8em 0 .3em 0; }
#status { color: #555; font-size: .9em; }
#error { background: #fde8e8; border: 1px solid #e0a0a0; padding: .6em; margin: .6em 0; }
.grid { border-collapse: collapse; font-size: .88em; }
.grid th, .grid td { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: right; }
.grid th { background: #f4f4f4; } .grid td.coin, .grid td:first-child { text-align: left; font-weight: 600; }
td.stale { color: #b35900; } td.fresh { color: #2a7a2a; }
#flags li.error { color: #b00020; } #flags li.warning { color: #b35900; } #flags li.ok { color: #2a7a2a; }
.row { display: flex; flex-wrap: wrap; gap: 1.5em; } .row > div { flex: 1 1 480px; min-width: 0; }
"""


#: Trino's cheap "has anything changed": the newest commit, from Iceberg metadata.
TRINO_VERSION = 'SELECT max(committed_at) AS v FROM "quotes$snapshots"'


@dataclass
class Reader:
    """One engine shared by every request, used by one request at a time (DuckDB connections
    are not thread-safe), opened lazily so the page comes up even before the lakehouse does.

    `poll()` answers the question asked every tick (what snapshot is current?) from a token a
    background thread keeps up to date every `check_every_s`: a tick never waits for the engine,
    so on a slow machine ticks cannot pile up behind a long render and starve the page. The page
    re-reads every panel only when the token changes, and at least every `ages_every_s` so ages
    keep growing on a feed that stopped.
    """

    open_engine: Callable[[], Engine]
    stale_after_s: float = 120.0
    ages_every_s: float = 15.0
    check_every_s: float = 2.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._token: str | None = None
        self._stop = threading.Event()
        self._checker: threading.Thread | None = None

    def _opened(self) -> Engine:
        if self._engine is None:
            self._engine = self.open_engine()
        return self._engine

    def check(self) -> str:
        """Ask the engine now: refresh (DuckDB) or read the newest commit (Trino); a token."""
        clock = int(time.time() // self.ages_every_s)
        try:
            with self._lock:
                engine = self._opened()
                if isinstance(engine, DuckDBEngine):
                    engine.refresh()  # picks up snapshots committed since the last check
                    version = engine.version
                else:
                    version = str(engine.query(TRINO_VERSION)["v"].iloc[0])
        except Exception as exc:  # shown by the render that follows; retried next check
            log.warning("dashboard.poll_failed", error=str(exc), kind=type(exc).__name__)
            return f"unavailable|{time.time()}"
        return f"{version}|{clock}"

    def poll(self) -> str:
        """The newest token, without waiting for the engine (the first call checks once)."""
        if self._checker is None:
            self._token = self.check()
            self._checker = threading.Thread(target=self._run, name="dashboard-check", daemon=True)
            self._checker.start()
        return self._token or self.check()

    def _run(self) -> None:
        while not self._stop.wait(self.check_every_s):
            self._token = self.check()

    def snapshot(self, search: str | None) -> Snapshot:
        return self._snapshot_at(search, None)

    def _snapshot_at(self, search: str | None, now: dt.datetime | None) -> Snapshot:
        params = parse_params(search)
        with self._lock:
            engine = self._opened()
            return take_snapshot(
                Investor(engine), LiveQueries(engine), params, now=now, stale_after_s=self.stale_after_s
            )

    def close(self) -> None:
        self._stop.set()
        if self._checker is not None:
            self._checker.join(timeout=30)
        with self._lock:
            close = getattr(self._engine, "close", None)
            if close is not None:
                close()
            self._engine = None


def _section(title: str, body_id: str) -> html.Div:
    return html.Div([html.H2(title), html.Div(id=body_id)])


def _graph(gid: str) -> html.Div:
    return html.Div(dcc.Graph(id=gid, config={"displaylogo": False}))


def create_app(reader: Reader, *, refresh_seconds: float = 5.0, title: str = "coinstream live") -> Dash:
    app = Dash(__name__, title=title, update_title="", serve_locally=True)
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + CSS + "</style>")
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Interval(id="tick", interval=int(refresh_seconds * 1000)),
            dcc.Store(id="version"),
            html.H1(title),
            html.Div(id="status"),
            html.Div(id="error", role="alert", style={"display": "none"}),
            html.Div(
                id="panels",
                children=[
                    html.Div(
                        [_section("Latest prices", "latest-box"), _section("Freshness per feed", "fresh-box")],
                        className="row",
                    ),
                    html.Div([_graph("last-hour"), _graph("candles")], className="row"),
                    html.Div(
                        [
                            _section("Returns and their staleness", "returns-box"),
                            html.Div([_graph("volume"), _section("Data quality", "flags-box")]),
                        ],
                        className="row",
                    ),
                ],
            ),
        ]
    )

    @app.server.route("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        """Ready = the lakehouse answers a query (what the readiness probe and `helm test` ask)."""
        token = reader.check()
        ok = not token.startswith("unavailable|")
        return (
            (f"ok {token}\n" if ok else "lakehouse unavailable\n"),
            (200 if ok else 503),
            {"Content-Type": "text/plain"},
        )

    outputs = [
        Output("status", "children"),
        Output("error", "children"),
        Output("error", "style"),
        Output("panels", "style"),
        Output("latest-box", "children"),
        Output("fresh-box", "children"),
        Output("returns-box", "children"),
        Output("flags-box", "children"),
        Output("last-hour", "figure"),
        Output("candles", "figure"),
        Output("volume", "figure"),
    ]

    @app.callback(Output("version", "data"), Input("tick", "n_intervals"), State("version", "data"))
    def poll(_n: int | None, current: str | None) -> Any:
        token = reader.poll()
        return no_update if token == current else token

    @app.callback(*outputs, Input("version", "data"), Input("url", "search"))
    def render(_version: str | None, search: str | None) -> tuple[Any, ...]:
        try:
            s = reader.snapshot(search)
        except QueryError as exc:
            return _failed(f"Bad parameter: {exc}")
        except Exception as exc:  # the page must say what failed, not hang or show a traceback
            log.warning("dashboard.read_failed", error=str(exc), kind=type(exc).__name__)
            return _failed(f"Cannot read the lakehouse right now ({type(exc).__name__}: {exc}); retrying.")
        status = (
            f"{s.params.vs_currency} · source {s.source} · {len(s.coins)} coin(s) · "
            f"updated {s.taken_at.strftime('%H:%M:%S')} UTC · every {refresh_seconds:g} s"
        )
        return (
            html.Span(status, id="updated", **panels.data_attrs(taken_at=s.taken_at.isoformat())),
            None,
            {"display": "none"},
            {},
            panels.latest_table(s),
            panels.freshness_table(s),
            panels.returns_table(s),
            panels.flags_list(s.flags),
            panels.last_hour_figure(s),
            panels.candles_figure(s),
            panels.volume_figure(s),
        )

    return app


def _failed(message: str) -> tuple[Any, ...]:
    empty: dict[str, Any] = {"data": [], "layout": {}}
    now = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
    return (f"not updated ({now} UTC)", message, {}, {"display": "none"}, None, None, None, None, empty, empty, empty)


def serve(app: Dash, host: str, port: int, *, threads: int = 4) -> Any:
    """A waitress server for `app`, not yet running: `.run()` blocks, `.close()` stops."""
    from waitress import create_server

    return create_server(app.server, host=host, port=port, threads=threads, ident="coinstream-dashboard")
