"""Control routes of the fake Bot API (`/_fake/...`), for callers in other threads or processes.

Actions (POST /_fake/actions, a JSON list; each returns a small result):

    {"op": "text", "user_id": 1, "text": "hi", "chat_id": null, "reply_to": null}
    {"op": "media", "user_id": 1, "kind": "sticker", "caption": null}
    {"op": "edit", "user_id": 1, "message_id": 5, "text": "new"}
    {"op": "press", "user_id": 1, "data": "h:7"}  or  {"op": "press", "user_id": 1, "prefix": "h:"}
    {"op": "channel_post", "chat_id": -1001, "text": "hello"}
    {"op": "member", "chat_id": -100, "old": "member", "new": "left", "actor_id": 7}
    {"op": "group", "chat_id": -100, "title": "Lab", "admins": [7], "members": [8]}
    {"op": "block", "user_id": 1}
    {"op": "update", "update": {...}}    (a raw update; update_id is assigned)

Reading: GET /_fake/events?since=SEQ&timeout=S (recorded requests after SEQ, long-polled),
GET /_fake/stats, GET /_fake/latencies, GET /_fake/messages?chat_id=, GET /_fake/files/ID.
Faults: POST /_fake/faults {"kind": "429", "method": "sendMessage", "times": 1, ...};
DELETE /_fake/faults. POST /_fake/reset forgets everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from testkit.fake_telegram.records import Fault

if TYPE_CHECKING:
    from testkit.fake_telegram.server import FakeState


def apply_action(state: FakeState, action: dict[str, Any]) -> dict[str, Any]:
    """Run one control action on `state` (on its loop); raises ValueError/LookupError if invalid."""
    op = action.get("op")
    if op == "text":
        msg = state.user_message(
            int(action["user_id"]),
            str(action["text"]),
            chat_id=action.get("chat_id"),
            reply_to=action.get("reply_to"),
        )
        return {"message_id": msg["message_id"], "chat_id": msg["chat"]["id"]}
    if op == "media":
        msg = state.user_media(
            int(action["user_id"]),
            str(action["kind"]),
            chat_id=action.get("chat_id"),
            caption=action.get("caption"),
        )
        return {"message_id": msg["message_id"], "chat_id": msg["chat"]["id"]}
    if op == "edit":
        msg = state.user_edit(
            int(action["user_id"]),
            int(action["message_id"]),
            str(action["text"]),
            chat_id=action.get("chat_id"),
        )
        return {"message_id": msg["message_id"], "chat_id": msg["chat"]["id"]}
    if op == "press":
        query = state.press(
            int(action["user_id"]),
            action.get("data"),
            prefix=action.get("prefix"),
            message_id=action.get("message_id"),
            chat_id=action.get("chat_id"),
            forge=bool(action.get("forge")),
        )
        return {
            "query_id": query["id"],
            "data": query["data"],
            "message_id": query["message"]["message_id"],
        }
    if op == "channel_post":
        msg = state.channel_post(int(action["chat_id"]), str(action["text"]))
        return {"message_id": msg["message_id"], "chat_id": msg["chat"]["id"]}
    if op == "member":
        state.member_update(
            int(action["chat_id"]),
            str(action["old"]),
            str(action["new"]),
            actor_id=action.get("actor_id"),
            subject_id=action.get("subject_id"),
        )
        return {}
    if op == "group":
        chat = state.add_group(
            int(action["chat_id"]),
            str(action.get("title", "Group")),
            admins=action.get("admins"),
            members=action.get("members"),
            creator=action.get("creator"),
            channel=bool(action.get("channel")),
        )
        return {"chat_id": chat["id"]}
    if op == "user":
        usr = state.add_user(
            int(action["user_id"]),
            str(action.get("first_name", "")),
            action.get("username"),
            str(action.get("language_code", "en")),
        )
        return {"user_id": usr["id"]}
    if op == "block":
        state.blocked.add(int(action["user_id"]))
        return {}
    if op == "update":
        return {"update_id": state.inject(dict(action["update"]))}
    raise ValueError(f"unknown action op {op!r}")


def compact_event(rec: Any) -> dict[str, Any]:
    """What a simulated client needs to know about one bot request."""
    out: dict[str, Any] = {
        "seq": rec.seq,
        "method": rec.method,
        "chat_id": rec.chat_id,
        "ok": rec.ok,
        "at": rec.at,
    }
    if rec.error:
        out["error"] = rec.error
    text = rec.text
    if text is not None:
        out["text"] = text
    buttons = [[b.get("text", ""), b["callback_data"]] for b in rec.buttons if "callback_data" in b]
    if buttons:
        out["buttons"] = buttons
    if isinstance(rec.result, dict) and "message_id" in rec.result:
        out["message_id"] = rec.result["message_id"]
    if "callback_query_id" in rec.params:
        out["callback_query_id"] = rec.params["callback_query_id"]
        if "text" in rec.params:
            out["text"] = rec.params["text"]
    if isinstance(rec.result, dict) and "document" in rec.result:
        out["document"] = rec.result["document"]
    return out


def add_control_routes(app: web.Application, state: FakeState) -> None:

    async def actions(request: web.Request) -> web.Response:
        body = await request.json()
        results = []
        for action in body if isinstance(body, list) else body.get("actions", []):
            try:
                results.append(apply_action(state, action))
            except (KeyError, LookupError, ValueError, TypeError) as exc:
                results.append({"error": f"{exc.__class__.__name__}: {exc}"})
        return web.json_response({"results": results})

    async def events(request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        timeout = float(request.query.get("timeout", 0))
        limit = int(request.query.get("limit", 1000))
        full = request.query.get("full") == "1"
        # After the first new event, wait this long for more: fewer, fuller answers under load.
        linger = float(request.query.get("linger", 0))
        deadline = time.monotonic() + timeout
        while True:
            # Requests are numbered from 1 in order, so the tail after `since` is a slice.
            tail = state.requests[since:] if since >= 0 else []
            if tail or time.monotonic() >= deadline:
                break
            async with state.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.changed.wait(), deadline - time.monotonic())
        if tail and linger > 0:
            await asyncio.sleep(linger)
            tail = state.requests[since:]
        tail = tail[:limit]
        rows = [r.to_json() if full else compact_event(r) for r in tail]
        return web.json_response({"events": rows, "next": tail[-1].seq if tail else since})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state.stats())

    async def latencies(request: web.Request) -> web.Response:
        since = float(request.query.get("since", 0))
        rows = [list(row) for row in state.latencies if row[0] >= since]
        return web.json_response({"latencies": rows})

    async def faults(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            state.faults.clear()
            return web.json_response({"ok": True})
        body = await request.json()
        try:
            state.add_fault(Fault(**body))
        except (TypeError, ValueError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    async def messages(request: web.Request) -> web.Response:
        return web.json_response({"messages": state.chat_messages(int(request.query["chat_id"]))})

    async def files(request: web.Request) -> web.Response:
        stored = state.files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data)

    app.router.add_post("/_fake/actions", actions)
    app.router.add_get("/_fake/events", events)
    app.router.add_get("/_fake/stats", stats)
    app.router.add_get("/_fake/latencies", latencies)
    app.router.add_route("POST", "/_fake/faults", faults)
    app.router.add_route("DELETE", "/_fake/faults", faults)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_get("/_fake/messages", messages)
    app.router.add_get("/_fake/files/{file_id}", files)
