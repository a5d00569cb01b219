"""Google Cloud Function entry point: ``iconik_handler``.

A thin adapter: it converts the Flask request functions-framework gives into the plugin's own
request type and the answer back. Everything else lives in the ``b2_iconik`` package. The
plugin is built once, at import, so a bad setting stops start-up with one clear line.
"""

import sys
from typing import TYPE_CHECKING

from b2_iconik.app import build_plugin
from b2_iconik.base.errors import ConfigError
from b2_iconik.edge.http import Request

if TYPE_CHECKING:
    from flask import Request as FlaskRequest

try:
    plugin = build_plugin()
except ConfigError as bad_setting:
    print(f"b2-iconik: configuration error: {bad_setting}", file=sys.stderr, flush=True)
    raise SystemExit(1) from None


def iconik_handler(request: "FlaskRequest") -> tuple[str, int, dict[str, str]]:
    """Answer one iconik custom-action request (a ``flask.Request``)."""
    answer = plugin.handle(
        Request(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            query=request.args.to_dict(),
            read=request.stream.read,
            content_length=request.content_length,
        )
    )
    return answer.json(), answer.status, {"Content-Type": "application/json", **answer.headers}
