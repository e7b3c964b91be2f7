"""Run the fake Bot API server as its own process.

    python -m testkit.fake_telegram [--host 127.0.0.1] [--port 0] [--token T]

Prints one JSON line {"url": ..., "base_url": ..., "port": ...} when it listens, then serves until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from aiohttp import web

from testkit.fake_telegram.app import make_app
from testkit.fake_telegram.server import DEFAULT_TOKEN, FakeState


async def serve(host: str, port: int, token: str) -> None:
    state = FakeState(token)
    runner = web.AppRunner(make_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    assert site._server is not None
    bound = site._server.sockets[0].getsockname()[1]
    url = f"http://{host}:{bound}"
    print(json.dumps({"url": url, "base_url": f"{url}/bot", "port": bound}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    state.close()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.fake_telegram", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
