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

# Scoring in one paragraph, shown in the welcome and in /help (the figures are bot.scoring's).
SCORING = (
    "Scoring: a right guess earns 100 points, minus 10 for each Show more. Right guesses in a "
    "row add a streak bonus (+10 for the second, up to +50). Each word you give that another "
    "player also gave for the same photo earns +10."
)
HOW_TO = (
    "How to play:\n"
    "1. /play shows a photo that is dark except where the AI looked.\n"
    "2. Guess what the AI took it for (Show more lights up more, for fewer points).\n"
    "3. Tell us in a few words what made you guess, then press Done."
)


def welcome_text(study_name: str, study_contact: str | None) -> str:
    """The consent request: who runs the study, what the game is, what is kept and shared."""
    contact = f" Questions: {study_contact}." if study_contact else ""
    return fit(
        f"Welcome to inv, a guessing game run by {study_name} to learn how image-recognition AI "
        f"sees photos.{contact}\n\n"
        "You see a photo that is dark except where the AI looked. Guess what the AI took it for, "
        "then say what made you guess. Your words help explain what the AI pays attention to.\n\n"
        f"{SCORING}\n\n"
        "What is kept: your guesses, the words you type, timings and points, under a pseudonym. "
        "Your Telegram name is never stored; your Telegram id is kept in one place only, so that "
        "you can continue and delete your data. It is kept while the study runs, unless you "
        "delete it sooner.\n"
        "- Research exports contain the words you type exactly as you typed them (never your "
        "Telegram id or name), so please type nothing personal.\n"
        "- Your nickname, or a made-up name, appears on leaderboards, also in groups that follow "
        "inv.\n"
        "- Some photos are hidden checks whose answer is known; how you do on them decides how "
        "much your words count.\n"
        "- /forget deletes everything at any time, but cannot recall exports already made.\n\n"
        "Do you agree to take part?",
        MAX_TEXT,
    )


CONSENT_YES = "I agree"
CONSENT_NO = "No, thanks"
CONSENT_THANKS = f"Thank you, you are in!\n\n{HOW_TO}\n\nReady? Press Play or send /play."
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
ALREADY_CONSENTED = "You are already in. Send /play for a challenge or /help for how to play."

PLAYER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("play", "the next challenge"),
    ("help", "how to play and how points work"),
    ("score", "your points and rank"),
    ("leaderboard", "the top 10 players"),
    ("nickname", "your name on leaderboards: /nickname NAME"),
    ("cancel", "leave the current step"),
    ("forget", "delete everything you gave"),
    ("start", "what inv is and what is kept"),
)
GROUP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", "group admins: post the leaderboard here regularly"),
    ("unsubscribe", "group admins: stop leaderboard posts"),
    ("leaderboard", "top 10 players"),
    ("help", "how to play"),
)
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("stats", "progress summary"),
    ("export", "pseudonymised research export (zip)"),
    ("report", "HTML report of the explanations and the crowd"),
    ("rebuild", "rebuild concepts and explanations now"),
    ("announce", "post the leaderboard to subscribed groups now"),
)


def help_text(*, researcher: bool = False, rebuild_available: bool = True) -> str:
    """How to play and how points work; researchers also get their commands."""
    lines = [HOW_TO, "", SCORING, "", "Commands:"]
    lines += [f"/{c} - {d}" for c, d in PLAYER_COMMANDS]
    lines.append(
        "In a group, its admins can /subscribe it to a regular leaderboard post "
        "(/unsubscribe stops it)."
    )
    if researcher:
        lines.append("\nFor researchers:")
        lines += [f"/{c} - {d}" for c, d in ADMIN_COMMANDS if rebuild_available or c != "rebuild"]
    return "\n".join(lines)


# ---- the challenge ---------------------------------------------------------------------------

BTN_MORE = "Show more (−10)"
BTN_GUESS = "Guess"
BTN_RESIGN = "Give up"
BTN_DONE = "Done"
BTN_NEXT = "Next challenge"
BTN_PLAY = "Play"

# Captions are kept short enough to read under a photo on a phone.
MAX_SHORT_CAPTION = 200
DOT_ON, DOT_OFF = "●", "○"


def dots(hint_level: int, levels: int) -> str:
    """Progress through the hints: ●●○○○○ at the second of six."""
    shown = max(1, min(levels, hint_level + 1))
    return DOT_ON * shown + DOT_OFF * (levels - shown)


def _head(ordinal: int, hint_level: int, levels: int, points: int) -> str:
    number = f"Challenge {ordinal} " if ordinal else ""
    return f"{number}{dots(hint_level, levels)} now worth {points} points"


def challenge_caption(ordinal: int, hint_level: int, levels: int, points: int) -> str:
    """The caption under a partly revealed photo: progress, stakes, what to do."""
    more = (
        "Show more lights up more, for 10 points less."
        if hint_level < levels - 1
        else "This is all there is."
    )
    return fit(
        f"{_head(ordinal, hint_level, levels, points)}\n"
        f"What did the AI take this for? The lit part is where it looked. {more}",
        MAX_SHORT_CAPTION,
    )


def guess_caption(ordinal: int, hint_level: int, levels: int, points: int) -> str:
    return fit(
        f"{_head(ordinal, hint_level, levels, points)}\nWhat did the AI take this for?",
        MAX_SHORT_CAPTION,
    )


_ORDINAL = re.compile(r"^Challenge (\d+)\b", re.MULTILINE)


def ordinal_in(caption: str | None) -> int:
    """The challenge number shown in one of our captions (0 when there is none)."""
    match = _ORDINAL.search(caption or "")
    return int(match.group(1)) if match else 0


def stage_name(depth: int, depths: int) -> str:
    """early, middle or late: where in the AI's processing a part of the photo was picked out."""
    if depths <= 1:
        return "late"
    third = min(2, max(0, depth) * 3 // depths)
    return ("early", "middle", "late")[third]


def took_it_for(answer: str, confidence: float | None) -> str:
    sure = f" ({confidence:.0%} sure)" if confidence is not None else ""
    return f"The AI took this for: {answer}{sure}."


def _stage_line(stage: str) -> str:
    article = "a" if stage == "middle" else "an"
    return f"It noticed this at {article} {stage} stage."


def _streak_lost(lost: int) -> str:
    return f" Your streak of {lost} is lost." if lost > 1 else ""


def result_caption(
    correct: bool,
    answer: str,
    confidence: float | None,
    guess_points: int,
    streak_points: int,
    fast: bool,
    stage: str,
    streak_lost: int = 0,
) -> str:
    """The payoff under the full photo after a guess, and the question for words."""
    took = took_it_for(answer, confidence)
    if fast:
        head = f"Too fast to count: no points. {took}"
    elif correct:
        streak = f", +{streak_points} streak" if streak_points else ""
        head = f"Right! {took} +{guess_points} points{streak}."
    else:
        head = f"Not quite. {took}{_streak_lost(streak_lost)}"
    return fit(
        f"{head}\n{_stage_line(stage)}\nWhat made you guess? Send words, then press Done.",
        MAX_SHORT_CAPTION,
    )


def resign_caption(answer: str, confidence: float | None, stage: str, streak_lost: int = 0) -> str:
    return fit(
        f"You gave up. {took_it_for(answer, confidence)}{_streak_lost(streak_lost)}\n"
        f"{_stage_line(stage)}",
        MAX_SHORT_CAPTION,
    )


def words_so_far(words: Sequence[str], flagged: int) -> str:
    """The one message that lists a challenge's words as they arrive, with Done under it."""
    shown = ", ".join(fit(word, 60) for word in words)
    note = ""
    if flagged:
        note = f"\n({plural(flagged, 'word')} repeated or sent too fast; they earn no points.)"
    return fit(
        f"Your words so far: {shown}.{note}\nSend more, or press Done.",
        MAX_TEXT,
    )


def finish_summary(
    guess_points: int,
    streak_points: int,
    bonus_points: int,
    words: int,
    total: int,
    rank: int,
    players: int,
) -> str:
    parts = [f"guess +{guess_points}"]
    if streak_points:
        parts.append(f"streak +{streak_points}")
    parts.append(f"matching words +{bonus_points} so far")
    return fit(
        f"Challenge done: {plural(words, 'word')} saved; {', '.join(parts)}.\n"
        f"Total {total:,} points, rank {rank} of {players}. Press Next challenge.",
        MAX_SHORT_CAPTION,
    )


SKIPPED_PREVIOUS = "The previous challenge was skipped."
NO_CHALLENGES = (
    "There are no challenges for you right now: you have seen them all. Thank you! Try /play "
    "again later, or see /leaderboard."
)
DAILY_CAP = (
    "That's all for today ({cap} challenges). Thank you! Come back tomorrow; /score shows "
    "your points."
)
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
    "That is too long: each word or phrase may have at most {limit} characters. Please send "
    "shorter ones, comma-separated. Nothing was recorded from that message."
)
LABEL_MESSAGE_TOO_LONG = (
    "That message is too long (at most {limit} characters). Nothing was recorded from it; please "
    "send a few short words, comma-separated."
)
LABEL_TOO_MANY = (
    "That is too many at once (at most {limit} per message). Nothing was recorded; please "
    "send fewer."
)
LABEL_NO_WORDS = "Please describe what you saw in words (emoji or symbols alone can't be used)."
LABEL_PLAY_LIMIT = (
    "A challenge takes at most {limit} words, and that message would go past it. Nothing was "
    "recorded from it; press Done to finish."
)
LABELS_NOT_NOW_REVEAL = "First make your guess: press Guess under the photo (or Give up)."
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
CANCEL_LABELS = "Done: your words are saved. Send /play for another challenge."
APOLOGY = "Sorry, something went wrong on my side. What you sent before is saved; please try again."

# ---- score, leaderboard, nickname -------------------------------------------------------------

NICKNAME_USAGE = (
    "Your name on leaderboards is {name}. To change it, send /nickname NAME (3-20 letters, "
    "digits, spaces, _ or -)."
)
NICKNAME_SET = (
    "Your leaderboard name is now {name}. /leaderboard shows where you stand; /play for the next "
    "challenge."
)
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
        f"(best {best_streak}).\n"
        f"Choose your leaderboard name with /nickname NAME; /play for the next challenge."
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
SUBSCRIBED = "This group will get the inv leaderboard {interval}."
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


def every(seconds: int) -> str:
    """How often, in words: "every day", "every 6 hours", "every 30 minutes"."""
    words = duration(seconds)
    count, _, unit = words.partition(" ")
    return f"every {unit}" if count == "1" else f"every {words}"
