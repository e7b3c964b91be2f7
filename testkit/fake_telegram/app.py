"""The fake Bot API over HTTP: `make_app(state)` serves

- the Bot API at `/bot<TOKEN>/<method>` (form, multipart or JSON bodies, like Telegram),
- file downloads at `/file/bot<TOKEN>/<path>`, and
- control routes at `/_fake/...` that tests, the load benchmark and the demo use from other
  threads or processes (see `control.py` and `client.py`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from testkit.fake_telegram.control import add_control_routes
from testkit.fake_telegram.records import MAX_BODY_BYTES
from testkit.fake_telegram.server import FakeState

# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.method != "POST" or not request.body_exists:
        return raw, files
    ctype = request.content_type
    if ctype == "application/json":
        body = await request.json()
        for key, value in body.items():
            raw[key] = value if isinstance(value, str) else json.dumps(value)
        return raw, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
        else:
            raw[key] = value if isinstance(value, str) else bytes(value).decode()
    return raw, files


def make_app(state: FakeState) -> web.Application:
    """The aiohttp application serving the Bot API and the control routes for `state`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def bot_api(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != state.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw, files = await _read_params(request)
        status, body, _rec = await state.handle(method, raw, files)
        return web.json_response(body, status=status)

    async def file_download(request: web.Request) -> web.Response:
        if request.match_info["token"] != state.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        stored = state.files.get(file_id)
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data)

    app.router.add_route("*", r"/bot{token}/{method}", bot_api)
    app.router.add_get(r"/file/bot{token}/{path:.+}", file_download)
    add_control_routes(app, state)
    return app
