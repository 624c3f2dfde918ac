"""promhub's web console: a browser application served at ``/`` that talks only to the public
HTTP API (what the console can do, any client can do).

The console is plain ES modules under ``static/`` (no build step at install); the third-party
browser libraries (uPlot, CodeMirror with Prometheus' PromQL language) are vendored, built from
pinned npm packages by ``web/build.sh``.
"""

from promhub.web.console import register_console

__all__ = ["register_console"]
