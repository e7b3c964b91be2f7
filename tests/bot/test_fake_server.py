"""Self-test of the fake Bot API: it serves Telegram's protocol and refuses what Telegram refuses."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage

from testkit.fake_telegram import FakeTelegram
from testkit.fake_telegram.build_facts import build_facts
from testkit.fake_telegram.validate import SpecValidator, load_facts

SPEC = Path(__file__).resolve().parents[3] / "shared" / "telegram" / "bot-api-spec.json"


@pytest.fixture
def api(fake: FakeTelegram):
    client = httpx.Client(base_url=f"{fake.base_url}{fake.token}/", timeout=5)
    yield client
    client.close()
    # These tests break the rules on purpose; the fixture's own check must not fail on them.
    fake.reset()


def call(api: httpx.Client, method: str, **params: object) -> httpx.Response:
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    return api.post(method, data=data)


def jpeg() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (300, 200), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("method", "params", "problem"),
    [
        ("sendMessag", {"chat_id": 1, "text": "hi"}, "unknown method"),
        ("sendMessage", {"chat_id": 1}, "text: required field is missing"),
        ("sendMessage", {"chat_id": 1, "text": "hi", "colour": "red"}, "colour: unknown field"),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, "4097 characters, allowed 1-4096"),
        ("sendMessage", {"chat_id": 1, "text": ""}, "0 characters, allowed 1-4096"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "<b>bold", "parse_mode": "HTML"},
            "can't parse entities",
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "é" * 33}]]},
            },
            "callback_data: is 66 bytes, allowed 1-64",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "hi", "reply_markup": {"inline_keyboard": "no"}},
            "inline_keyboard",
        ),
        (
            "sendPhoto",
            {"chat_id": 1, "photo": "abc", "caption": "c" * 1025},
            "caption: is 1025 characters",
        ),
        (
            "answerCallbackQuery",
            {"callback_query_id": "1", "text": "t" * 201},
            "text: is 201 characters",
        ),
        (
            "editMessageText",
            {"chat_id": 1, "text": "x"},
            "message_id: required when inline_message_id",
        ),
        (
            "editMessageReplyMarkup",
            {"chat_id": 1, "message_id": "seven"},
            "message_id: expected Integer",
        ),
        (
            "editMessageMedia",
            {"chat_id": 1, "message_id": 2, "media": {"type": "picture", "media": "x"}},
            "matches none of InputMediaAnimation",
        ),
        (
            "editMessageMedia",
            {"chat_id": 1, "message_id": 2, "media": {"type": "photo", "media": "attach://p1"}},
            "attach://p1 names no uploaded part",
        ),
        (
            "sendPoll",
            {"chat_id": 1, "question": "q", "options": [{"text": "o"}] * 13},
            "has 13 items, allowed 1-12",
        ),
        (
            "sendPoll",
            {"chat_id": 1, "question": "q" * 301, "options": [{"text": "a"}, {"text": "b"}]},
            "question: is 301 characters",
        ),
        (
            "setMyCommands",
            {"commands": [{"command": "x" * 33, "description": "d"}]},
            "is 33 characters",
        ),
        ("getUpdates", {"limit": 101}, "limit: is 101, allowed 1-100"),
    ],
)
def test_bad_requests_are_refused_and_recorded(
    api: httpx.Client, fake: FakeTelegram, method: str, params: dict[str, object], problem: str
) -> None:
    fake.add_user(1)
    response = call(api, method, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["error_code"] == 400
    assert problem in body["description"]
    assert any(problem in str(v) for v in fake.violations)


def test_good_requests_pass(api: httpx.Client, fake: FakeTelegram) -> None:
    fake.add_user(1)
    ok = call(
        api,
        "sendMessage",
        chat_id=1,
        text="<b>ok</b>",
        parse_mode="HTML",
        reply_markup={"inline_keyboard": [[{"text": "a", "callback_data": "x" * 64}]]},
    )
    assert ok.status_code == 200, ok.text
    message = ok.json()["result"]
    assert message["text"] == "<b>ok</b>" and message["chat"]["id"] == 1
    assert call(api, "getMe").json()["result"]["is_bot"] is True
    assert fake.violations == []


def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    response = httpx.post(f"{fake.base_url}123:wrong/getMe")
    assert response.status_code == 401


def test_runtime_refusals_like_telegram(api: httpx.Client, fake: FakeTelegram) -> None:
    assert (
        call(api, "sendMessage", chat_id=555, text="hi").json()["description"]
        == "Bad Request: chat not found"
    )
    fake.add_user(2)
    sent = call(api, "sendMessage", chat_id=2, text="hi").json()["result"]
    same = call(api, "editMessageText", chat_id=2, message_id=sent["message_id"], text="hi")
    assert "message is not modified" in same.json()["description"]
    assert (
        call(api, "editMessageText", chat_id=2, message_id=999, text="x")
        .json()["description"]
        .endswith("message to edit not found")
    )
    fake.block(2)
    blocked = call(api, "sendMessage", chat_id=2, text="hi")
    assert blocked.status_code == 403 and "blocked" in blocked.json()["description"]
    assert call(api, "answerCallbackQuery", callback_query_id="nope").status_code == 400
    assert fake.violations == []  # refusals of valid requests are not spec violations


def test_get_updates_offsets_and_long_poll(api: httpx.Client, fake: FakeTelegram) -> None:
    ids = [fake.send(7, f"m{i}").update_id for i in range(3)]
    first = call(api, "getUpdates", timeout=0).json()["result"]
    assert [u["update_id"] for u in first] == ids
    again = call(api, "getUpdates", timeout=0).json()["result"]
    assert [u["update_id"] for u in again] == ids  # not confirmed yet
    limited = call(api, "getUpdates", offset=ids[1], limit=1, timeout=0).json()["result"]
    assert [u["update_id"] for u in limited] == [ids[1]]
    assert call(api, "getUpdates", offset=ids[-1] + 1, timeout=0).json()["result"] == []
    # A long poll returns as soon as an update arrives.
    timer = threading.Timer(0.3, lambda: fake.send(7, "late"))
    timer.start()
    started = time.monotonic()
    late = call(api, "getUpdates", offset=ids[-1] + 1, timeout=5).json()["result"]
    assert 0.2 < time.monotonic() - started < 3
    assert late[0]["message"]["text"] == "late"
    assert late[0]["message"]["from"]["id"] == 7 and late[0]["message"]["chat"]["type"] == "private"


def test_settle_waits_for_updates_a_restarted_bot_has_not_confirmed(fake: FakeTelegram) -> None:
    """A bot that stops before confirming gets its last updates again when it restarts; those
    re-deliveries must not count as updates done, or settle() returns while one still waits."""
    fake.add_user(1)
    first = fake.send(1, "one")
    with httpx.Client(base_url=f"{fake.base_url}{fake.token}/", timeout=5) as api:
        assert [u["update_id"] for u in call(api, "getUpdates", timeout=0).json()["result"]] == [
            first.update_id
        ]
    # The bot stops without confirming; its successor is given the same update again.
    with httpx.Client(base_url=f"{fake.base_url}{fake.token}/", timeout=5) as api:
        again = call(api, "getUpdates", timeout=0).json()["result"]
    assert [u["update_id"] for u in again] == [first.update_id]
    second = fake.send(1, "two")
    replied: list[float] = []

    def restarted_bot() -> None:
        # Slower than settle's quiet spell, as a bot busy starting up (or a loaded machine) is.
        time.sleep(0.6)
        with httpx.Client(base_url=f"{fake.base_url}{fake.token}/", timeout=5) as api:
            offset = first.update_id
            while offset <= second.update_id:
                for update in call(api, "getUpdates", offset=offset, timeout=1).json()["result"]:
                    call(api, "sendMessage", chat_id=1, text=f"got {update['message']['text']}")
                    replied.append(time.monotonic())
                    offset = update["update_id"] + 1
            call(api, "getUpdates", offset=offset, timeout=0)  # confirms the last one

    bot = threading.Thread(target=restarted_bot)
    bot.start()
    try:
        fake.settle(quiet=0.15, timeout=5)
        settled = time.monotonic()
    finally:
        bot.join()
    assert len(replied) == 2 and settled > replied[-1], "settle() returned before the bot was done"
    assert [r.params["text"] for r in fake.requests("sendMessage")] == ["got one", "got two"]


def test_uploads_return_file_ids_that_can_be_reused(api: httpx.Client, fake: FakeTelegram) -> None:
    fake.add_user(3)
    up = api.post(
        "sendPhoto",
        data={"chat_id": "3", "caption": "c"},
        files={"photo": ("p.jpg", jpeg(), "image/jpeg")},
    )
    assert up.status_code == 200, up.text
    sizes = up.json()["result"]["photo"]
    assert sizes[-1]["width"] == 300 and sizes[-1]["height"] == 200
    file_id = sizes[-1]["file_id"]
    again = call(api, "sendPhoto", chat_id=3, photo=file_id)
    assert again.json()["result"]["photo"][-1]["file_id"] == file_id
    assert fake.file_bytes(file_id) == jpeg()
    unknown = call(api, "sendPhoto", chat_id=3, photo="AgACnot-a-real-id")
    assert "wrong file identifier" in unknown.json()["description"]
    media = {"type": "photo", "media": "attach://new", "caption": "edited"}
    edit = api.post(
        "editMessageMedia",
        data={
            "chat_id": "3",
            "message_id": str(again.json()["result"]["message_id"]),
            "media": json.dumps(media),
        },
        files={"new": ("n.jpg", jpeg(), "image/jpeg")},
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["result"]["caption"] == "edited"
    assert fake.violations == []


def test_faults(api: httpx.Client, fake: FakeTelegram) -> None:
    fake.add_user(4)
    fake.fail("429", method="sendMessage", retry_after=3)
    limited = call(api, "sendMessage", chat_id=4, text="a").json()
    assert limited["error_code"] == 429 and limited["parameters"]["retry_after"] == 3
    fake.fail("5xx", status=502, times=2)
    assert call(api, "getMe").status_code == 502
    assert call(api, "getMe").status_code == 502
    assert call(api, "getMe").status_code == 200
    fake.fail("403", chat_id=4)
    assert call(api, "sendMessage", chat_id=4, text="a").status_code == 403
    fake.fail("timeout", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        api.post("sendMessage", data={"chat_id": "4", "text": "slow"}, timeout=0.3)
    assert [r.fault for r in fake.requests("sendMessage") if r.fault] == ["429", "403"]


def test_press_builds_a_callback_query_from_the_message(
    api: httpx.Client, fake: FakeTelegram
) -> None:
    fake.add_user(5)
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "g:1"}]]}
    call(api, "sendMessage", chat_id=5, text="pick", reply_markup=markup)
    sent = fake.press(5, "g:1")
    update = call(api, "getUpdates", timeout=0).json()["result"][-1]
    query = update["callback_query"]
    assert (
        query["data"] == "g:1"
        and query["message"]["text"] == "pick"
        and query["id"] == sent.query_id
    )
    with pytest.raises(LookupError):
        fake.press(5, "not-on-any-button")
    forged = fake.press(5, "g:999", forge=True)
    assert forged.query_id


def test_packaged_facts_match_the_specification() -> None:
    if not SPEC.is_file():
        pytest.skip("the Bot API specification is not next to the repository")
    import hashlib

    raw = SPEC.read_bytes()
    assert (
        build_facts(json.loads(raw), source_sha256=hashlib.sha256(raw).hexdigest()) == load_facts()
    )


def test_facts_carry_the_limits_the_bot_depends_on() -> None:
    facts = load_facts()
    fields = facts["methods"]["sendMessage"]["fields"]
    assert fields["text"]["max_length"] == 4096
    assert facts["methods"]["sendPhoto"]["fields"]["caption"]["max_length"] == 1024
    assert facts["methods"]["answerCallbackQuery"]["fields"]["text"]["max_length"] == 200
    button = facts["types"]["InlineKeyboardButton"]["fields"]["callback_data"]
    assert (button["min_length"], button["max_length"], button["length_unit"]) == (1, 64, "bytes")
    assert facts["types"]["InputMediaPhoto"]["fields"]["type"]["const"] == "photo"
    assert "description" not in json.dumps(facts["methods"]["sendMessage"])  # facts only
    assert SpecValidator().validate_request("sendMessage", {"chat_id": 1, "text": "ok"}) == []
