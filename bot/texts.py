"""Every text the bot shows, and the helpers that keep texts inside Telegram's limits.

Replies are plain text (no parse_mode): user-given strings (labels, nicknames) are echoed safely
without escaping, and length limits count exactly what is sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Telegram's limits (Bot API: sendMessage text 1-4096, captions 0-1024, answerCallbackQuery 0-200).
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
# Inline button labels have no documented limit, but clients cut long ones; keep them readable.
MAX_BUTTON_TEXT = 40
ELLIPSIS = "…"


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def button(text: str) -> str:
    return fit(" ".join(text.split()) or "?", MAX_BUTTON_TEXT)


def class_label(name: str) -> str:
    """A class name for buttons and captions: first synonym of 'tabby, tabby cat', underscores as spaces."""
    first = name.split(",")[0].replace("_", " ").strip()
    return button(first or name)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---- consent and help ----------------------------------------------------------------------

WELCOME = (
    "Welcome to inv, a game that helps explain how image-recognition networks see.\n\n"
    "You get a photo that is black except where one part of the network looks. Guess what the "
    "network thinks it is, then tell us what made you guess. Your words become explanations of "
    "the network, layer by layer.\n\n"
    "What we collect: your guesses, the words you type, timings and points, linked to a "
    "pseudonym. Your Telegram name is never stored; your Telegram id is kept in one place only, "
    "so that you can continue and delete your data. Research exports contain pseudonyms only. "
    "You can delete everything at any time with /forget.\n\n"
    "Do you agree to take part?"
)
CONSENT_YES = "I agree"
CONSENT_NO = "No, thanks"
CONSENT_THANKS = (
    "Thank you! How to play:\n"
    "1. /play shows a challenge: a photo revealed only where the network looks.\n"
    "2. Show more reveals a bit more (fewer points), Guess lets you pick the class, Give up ends it.\n"
    "3. After your guess, send the words that made you guess (comma-separated or one per "
    "message), then press Done.\n\n"
    "Ready? Press Play or send /play."
)
CONSENT_DECLINED = (
    "No problem. I keep only your Telegram id and the time you said no, so that I don't ask "
    "again; it is never part of the research data. Send /start if you change your mind, or "
    "/forget to delete even that."
)
CONSENT_DECLINED_REMINDER = (
    "You chose not to take part, so nothing you send is recorded. Send /start if you change "
    "your mind."
)
CONSENT_NEEDED = "Please agree to take part first (send /start to read what is collected)."
ALREADY_CONSENTED = "You are already in. Send /play for a challenge or /help for the commands."

PLAYER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "what inv is and how to take part"),
    ("play", "get the next challenge"),
    ("score", "your points and rank"),
    ("leaderboard", "top 10 players and your rank"),
    ("nickname", "set the name shown on leaderboards: /nickname NAME"),
    ("help", "all commands"),
    ("forget", "delete everything you gave"),
    ("cancel", "leave the current step"),
)
GROUP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", "group admins: post the leaderboard here regularly"),
    ("unsubscribe", "group admins: stop leaderboard posts"),
    ("leaderboard", "top 10 players"),
    ("help", "all commands"),
)
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("stats", "progress per class and layer"),
    ("export", "pseudonymised research export (zip)"),
    ("report", "HTML report of the explanations and the crowd"),
    ("rebuild", "rebuild concepts and explanations now"),
    ("announce", "post the leaderboard to subscribed groups now"),
)


def help_text(*, rebuild_available: bool) -> str:
    lines = ["inv commands:"]
    lines += [f"/{c} - {d}" for c, d in PLAYER_COMMANDS]
    lines.append("\nIn groups:")
    lines += [f"/{c} - {d}" for c, d in GROUP_COMMANDS if c in {"subscribe", "unsubscribe"}]
    lines.append("\nFor researchers:")
    lines += [f"/{c} - {d}" for c, d in ADMIN_COMMANDS if rebuild_available or c != "rebuild"]
    lines.append("\nChallenges are played in this private chat.")
    return "\n".join(lines)


# ---- the challenge ---------------------------------------------------------------------------

BTN_MORE = "Show more"
BTN_GUESS = "Guess"
BTN_RESIGN = "Give up"
BTN_DONE = "Done"
BTN_NEXT = "Next challenge"
BTN_PLAY = "Play"


def challenge_caption(
    ordinal: int, hint_level: int, percent: float, levels: int, layer_depth: int
) -> str:
    share = f"{percent:g}%"
    more = (
        "Show more reveals more (fewer points)."
        if hint_level < levels - 1
        else "This is all there is."
    )
    head = f"Challenge {ordinal}: what" if ordinal else "What"
    return fit(
        f"{head} does the network see here?\n"
        f"Showing the top {share} of what one group of filters in layer {layer_depth + 1} looks at "
        f"(hint {hint_level + 1}/{levels}).\n{more} Press Guess when you know.",
        MAX_CAPTION,
    )


_ORDINAL = re.compile(r"^Challenge (\d+):", re.MULTILINE)


def ordinal_in(caption: str | None) -> int:
    """The challenge number shown in one of our captions (0 when there is none)."""
    match = _ORDINAL.search(caption or "")
    return int(match.group(1)) if match else 0


def result_caption(
    correct: bool, answer: str, guess_points: int, streak_points: int, fast: bool
) -> str:
    if fast:
        head = f"Too fast to count, so no points this time. It was: {answer}."
    elif correct:
        streak = f" + {streak_points} streak bonus" if streak_points else ""
        head = f"Right, it is {answer}! +{guess_points} points{streak}."
    else:
        head = f"Not quite: it was {answer}."
    return fit(
        f"{head}\n\nWhat made you guess? Send the things you saw (e.g. stripes, pointed ears), "
        "comma-separated or one per message. Press Done when finished.",
        MAX_CAPTION,
    )


def resign_caption(answer: str) -> str:
    return fit(f"You gave up. It was: {answer}.", MAX_CAPTION)


def labels_noted(labels: Sequence[str], total: int, flagged: int) -> str:
    shown = ", ".join(fit(label, 60) for label in labels)
    note = ""
    if flagged:
        note = f"\n({plural(flagged, 'label')} repeated or sent too fast; they earn no points.)"
    return fit(
        f"Noted: {shown}.{note}\nYou gave {plural(total, 'label')} so far. More, or press Done.",
        MAX_TEXT,
    )


def finish_summary(
    guess_points: int,
    streak_points: int,
    bonus_points: int,
    labels: int,
    total: int,
    rank: int,
    players: int,
) -> str:
    parts = [f"Guess: +{guess_points}"]
    if streak_points:
        parts.append(f"streak: +{streak_points}")
    parts.append(f"agreement: +{bonus_points} (provisional)")
    return fit(
        f"Challenge done, {plural(labels, 'label')} recorded. {', '.join(parts)}.\n"
        f"Total: {total:,} points, rank {rank} of {players}.",
        MAX_TEXT,
    )


SKIPPED_PREVIOUS = "The previous challenge was skipped."
NO_CHALLENGES = (
    "There are no challenges for you right now: you have seen them all. Thank you! Try again later."
)
DAILY_CAP = "That's all for today ({cap} challenges). Thank you! Come back tomorrow."
HINT_MAX = "This is the most there is to show. Press Guess or Give up."

# ---- button answers (answerCallbackQuery, ≤ 200 characters) ---------------------------------

CB_EXPIRED = "This button has expired. Send /play for a new challenge."
CB_NOT_YOURS = "This is not your challenge."
CB_GONE = "This challenge no longer exists."
CB_INVALID = "This button is not valid. Send /play for a new challenge."
CB_ALREADY = "Already done."
CB_CORRECT = "Right! +{points}"
CB_WRONG = "Not quite."
CB_FAST = "Too fast: no points."
CB_DONE = "Thanks!"

# ---- labels and bad input --------------------------------------------------------------------

LABEL_TOO_LONG = (
    "That is too long: each label may have at most {limit} characters. Please send shorter "
    "labels, comma-separated. Nothing was recorded from that message."
)
LABEL_MESSAGE_TOO_LONG = (
    "That message is too long (at most {limit} characters). Nothing was recorded from it; please "
    "send a few short labels, comma-separated."
)
LABEL_TOO_MANY = (
    "That is too many labels at once (at most {limit} per message). Nothing was recorded; please "
    "send fewer."
)
LABEL_NO_WORDS = "Please describe what you saw in words (emoji or symbols alone can't be used)."
LABEL_PLAY_LIMIT = (
    "A challenge takes at most {limit} labels, and that message would go past it. Nothing was "
    "recorded from it; press Done to finish."
)
LABELS_NOT_NOW_REVEAL = "First guess the class: press Guess under the photo (or Give up)."
LABELS_NOT_NOW = (
    "There is no challenge waiting for words right now. Send /play for a new challenge."
)
LABELS_FINISHED_CHALLENGE = (
    "That challenge is finished, so these words were not added to it (or to another one)."
)
NOT_TEXT = (
    "I can only read text. Send words that describe what you saw, or use the buttons. "
    "Nothing was recorded from that message."
)
EDITED = "Edits are not recorded. Please send the corrected words as a new message."
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
NO_ARGUMENTS = "/{command} takes no arguments. Send just /{command}."
PRIVATE_ONLY = "Challenges are played in a private chat with me: {link}"
CHANNEL_ONLY_PRIVATE = "inv works in private chats and groups, not in channels."
CANCEL_NOTHING = "Nothing to cancel. Send /play for a challenge."
CANCEL_SKIPPED = "Challenge skipped. Send /play for another one."
CANCEL_LABELS = "Done: your labels are saved. Send /play for another challenge."
APOLOGY = "Sorry, something went wrong on my side. What you sent before is saved; please try again."

# ---- score, leaderboard, nickname -------------------------------------------------------------

NICKNAME_USAGE = (
    "Send /nickname NAME (3-20 letters, digits, spaces, _ or -). Your name on leaderboards is "
    "now: {name}."
)
NICKNAME_SET = "Your leaderboard name is now {name}."
NICKNAME_TAKEN = "That nickname is taken, or looks like one that is. Please choose another one."
NICKNAME_INVALID = "A nickname needs 3-20 letters, digits, spaces, _ or -, and at least one letter."


def score_text(
    points: int,
    rank: int,
    players: int,
    played: int,
    correct: int,
    streak: int,
    best_streak: int,
    trust: float,
    name: str,
) -> str:
    return (
        f"{name}: {points:,} points, rank {rank} of {players}.\n"
        f"Challenges: {played} played, {correct} guessed right. Streak: {streak} "
        f"(best {best_streak}). Reliability: {trust:.2f}."
    )


# ---- forget ----------------------------------------------------------------------------------

FORGET_CONFIRM = (
    "This deletes your participation: every guess and word you gave, your points and your "
    "nickname. It cannot be undone. Delete everything?"
)
FORGET_YES = "Yes, delete everything"
FORGET_NO = "No, keep it"
FORGET_DONE = (
    "Done: everything you gave has been deleted, here and in the results built from it. "
    "Research exports already handed to the researchers cannot be recalled; no export made from "
    "now on contains your words. Goodbye! (/start to join again.)"
)
FORGET_KEPT = "Nothing was deleted."
FORGET_NOTHING = "There is nothing stored about you."
FORGET_EXPIRED = "This confirmation has expired. Send /forget again."

# ---- groups and researchers -----------------------------------------------------------------

GROUP_ADMINS_ONLY = "Only group admins can do that."
GROUP_ONLY = "/{command} works in groups: add me to a group and send it there."
SUBSCRIBED = "This group will get the inv leaderboard every {interval}."
UNSUBSCRIBED = "This group will no longer get leaderboard posts."
NOT_SUBSCRIBED = "This group was not subscribed."
ADMIN_ONLY = "Sorry, this command is for the researchers running inv."
EXPORT_STARTED = "Preparing the export…"
EXPORT_TOO_BIG = (
    "The export is {size} MB, over Telegram's 50 MB limit. It was written to {path} on the server."
)
EXPORT_FAILED = "The export failed: {error}"
REPORT_STARTED = "Writing the report…"
REPORT_TOO_BIG = (
    "The report is {size} MB, over Telegram's 50 MB limit. It was written to {path} on the server."
)
REPORT_FAILED = "The report failed: {error}"
REBUILD_STARTED = "Rebuild started…"
REBUILD_PROGRESS = "Rebuilding: {stage} ({percent:.0f}%)"
REBUILD_FAILED = "The rebuild failed: {error}"
REBUILD_CLASSES_FAILED = (
    "The rebuild could not recompute classes {classes}; their previous results stay published, "
    "every other class was updated. Details are in the log; the next rebuild tries again."
)
ANNOUNCED = "Leaderboard posted to {posted} group(s); {removed} unsubscribed."
ADMIN_ERROR_ALERT = "inv error {error}, incident {incident} ({count} since the last alert); the log has the details."


def duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return plural(seconds // 86400, "day")
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    if seconds % 60 == 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")


# ---- the crowd's safety limits -----------------------------------------------------------------

SLOW_DOWN = (
    "You are sending messages faster than I can take them. I'm skipping them for a moment: "
    "wait a few seconds, then send again what I missed."
)
SLOW_DOWN_SHORT = "Too fast: wait a few seconds, then press again."
RESEARCHERS_PRIVATE_ONLY = (
    "Researcher commands work only in your private chat with me, so that nothing is shared with "
    "the group: {link}"
)
