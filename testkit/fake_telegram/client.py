"""`FakeTelegramClient`: drive a fake Bot API server over its control routes (any process)."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession, ClientTimeout


class FakeTelegramClient:
    """Async client of `/_fake/...`; use as `async with FakeTelegramClient(url) as fake:`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: ClientSession | None = None

    async def __aenter__(self) -> FakeTelegramClient:
        self._session = ClientSession(timeout=ClientTimeout(total=120))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> ClientSession:
        if self._session is None:
            raise RuntimeError("use FakeTelegramClient as an async context manager")
        return self._session

    async def _get(self, path: str, **params: Any) -> Any:
        async with self.session.get(
            f"{self.url}{path}", params={k: str(v) for k, v in params.items()}
        ) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def _post(self, path: str, body: Any) -> Any:
        async with self.session.post(f"{self.url}{path}", json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def actions(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run control actions (see testkit.fake_telegram.control) in order; one result each."""
        return (await self._post("/_fake/actions", actions))["results"]

    async def events(
        self,
        since: int,
        *,
        timeout: float = 0.0,
        limit: int = 1000,
        full: bool = False,
        linger: float = 0.0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Bot requests after `since` (waiting up to `timeout` for one, then `linger` seconds for
        more) and the next `since`."""
        body = await self._get(
            "/_fake/events",
            since=since,
            timeout=timeout,
            limit=limit,
            full=int(full),
            linger=linger,
        )
        return body["events"], body["next"]

    async def stats(self) -> dict[str, Any]:
        return await self._get("/_fake/stats")

    async def latencies(self, since: float = 0.0) -> list[tuple[float, float, float]]:
        """Per answered update: (handed-out time, seconds until the bot's first request answering
        it, seconds it waited in the queue before getUpdates handed it out)."""
        body = await self._get("/_fake/latencies", since=since)
        return [(t, lat, queued) for t, lat, queued in body["latencies"]]

    async def fault(self, kind: str, **fields: Any) -> None:
        await self._post("/_fake/faults", {"kind": kind, **fields})

    async def clear_faults(self) -> None:
        async with self.session.delete(f"{self.url}/_fake/faults") as resp:
            resp.raise_for_status()

    async def reset(self) -> None:
        await self._post("/_fake/reset", {})

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        return (await self._get("/_fake/messages", chat_id=chat_id))["messages"]

    async def file(self, file_id: str) -> bytes:
        async with self.session.get(f"{self.url}/_fake/files/{file_id}") as resp:
            resp.raise_for_status()
            return await resp.read()
