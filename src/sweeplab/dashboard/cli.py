"""``sweeplab serve``: the live dashboard over run directories."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _usage(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def serve(
    paths: Optional[List[Path]] = typer.Argument(
        None, metavar="[RUN_DIR_OR_PARENT]...",
        help="run directories, or folders holding run directories (default: runs)"),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="port (0: any free port)"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to bind; anything but loopback requires the token printed at start"),
    open_browser: bool = typer.Option(False, "--open", help="open the dashboard in the web browser"),
) -> None:
    """Live dashboard in the browser: runs, configurations, curves, trials; read-only, updates while runs train."""
    try:
        import uvicorn

        from sweeplab.dashboard.app import LOOPBACK_HOSTS, create_app, is_loopback, new_token
    except ImportError as e:
        typer.echo(f"error: sweeplab serve needs starlette and uvicorn ({e.name} is missing): "
                   "pip install 'sweeplab[dashboard]'", err=True)
        raise typer.Exit(1)
    roots = list(paths or [Path("runs")])
    for p in roots:
        if not p.is_dir():
            _usage(f"{p}: not a directory; accepted: a run directory or a folder of run directories")
    if port == 0:  # a free port, known before the URL is printed
        import socket

        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.bind((host.strip("[]"), 0))
            port = sock.getsockname()[1]
    local = is_loopback(host)
    token = None if local else new_token()
    hosts = None if not local else (*LOOPBACK_HOSTS, host, f"[{host.strip('[]')}]")
    app = create_app(roots, token=token, allowed_hosts=hosts)
    n = len(app.state.dashboard.entries)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"sweeplab dashboard: {n} run{'s' if n != 1 else ''} under {', '.join(map(str, roots))}")
    typer.echo(f"open {url}" + ("" if local else "  (the token is required: anyone on the network with it can read "
                                                "these runs)"))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    try:
        server.run()
    except OSError as e:
        typer.echo(f"error: {host}:{port}: {e.strerror or e}", err=True)
        raise typer.Exit(1)


def mount(app: typer.Typer) -> None:
    """Add ``serve`` to the ``sweeplab`` command."""
    app.command("serve")(serve)
