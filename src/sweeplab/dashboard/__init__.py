"""``sweeplab serve``: a live, read-only dashboard over run directories.

* :mod:`~sweeplab.dashboard.runs`: which directories are served, their ids,
  state (running / interrupted / finished) and change stamps;
* :mod:`~sweeplab.dashboard.views`: the JSON payloads, aggregated on the
  server from the report's analyses;
* :mod:`~sweeplab.dashboard.app`: the Starlette app (endpoints, static pages,
  token and Host checks, security headers);
* :mod:`~sweeplab.dashboard.progress_file`: the driver's ``progress.json``;
* :mod:`~sweeplab.dashboard.cli`: the ``serve`` command.

Starlette and uvicorn are optional (``pip install 'sweeplab[dashboard]'``);
nothing here is imported by ``import sweeplab``.
"""
