"""The quality rules on each later turn of a conversation (multi_turn strategy).

The first turn is an instruction and its instance, checked as every task's are (quality.py). Each
later turn k (2, 3, ...) is a user follow-up and the assistant's reply:

- the follow-up is held to the instruction rules (too short, unfinished, repetitive, ...), and is
  rejected when empty, when it is the teacher talking about the message instead of writing it
  or writes as the assistant ("Sure, what would you like to know about Paris?"; `chatter`), or when it asks
  again what the conversation already holds (ROUGE-L >= 0.7 to an earlier message, `echoes_turn`);
- the reply is held to the output rules that make sense without an input (empty, refusal,
  placeholder, cut off at ":", only restating the follow-up, repetitive), and is rejected when it is
  pleasantries alone ("You're welcome! Let me know if ...", `chatter`) or a copy of an earlier reply.

Every reject names its turn and side: `echoes_turn(turn 2 user, of turn 1 user, rouge=0.93)`.
"""

from __future__ import annotations

import re

from ..config import QualityConfig
from ..formats import conversation
from ..records import Instance, Reject, Task
from . import quality
from .rouge import rouge_filter

# The output rules that make sense for a reply, which has no input of its own (quality.INSTANCE_RULES)
REPLY_RULES = ("empty_output", "refusal", "placeholder", "truncated_instance", "echoes_instruction", "repetitive")
ECHO_ROUGE = 0.7  # Self-Instruct's near-duplicate line, here between a follow-up and what came before
# A "user" message that is not the user's: the teacher talking about the message it was asked for, narrating
# the user, or writing as the assistant (the default 0.5B teacher did all three: "Sure, what would you like to know
# about Paris?", "The user asks for a change in ...", "Great! Please let me know if you'd like me to ...").
_META = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|here(?:'s| is| are))\b"
    r"|^\W*(?:the (?:user|assistant)|one follow-?up)\b"
    r"|\b(?:what (?:else )?would you like|(?:how (?:else )?)?(?:can|may) i (?:help|assist)"
    r"|i can help|(?:would|do) you like me to"
    r"|you'?d like me to|i(?:'d| would|'m| am) (?:be )?(?:happy|glad) to"
    r"|(?:your|the user'?s?) next (?:message|follow-?up|request))\b",
    re.I,
)
# A reply sentence that carries nothing but manners.
_PLEASANTRY = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|you'?re welcome|no problem|glad|happy to help|"
    r"i'?d be happy|i'?m happy|let me know|feel free|thank|great question|i hope this helps|"
    r"hope this helps|is there anything else|good luck)\b",
    re.I,
)


def check_turns(task: Task, cfg: QualityConfig) -> Reject | None:
    """The first failing later turn's reason, or None (a one-turn task always passes)."""
    for k in range(2, 2 + (len(task.turns) + 1) // 2):
        why = check_turn(task, k, cfg)
        if why:
            return why
    return None


def check_turn(task: Task, k: int, cfg: QualityConfig) -> Reject | None:
    """Turn k's follow-up, and its reply when it has one, against the rules above."""
    messages = conversation(task)
    at = 2 * (k - 1)  # index of turn k's user message
    earlier, follow_up = messages[:at], messages[at]["content"]
    why = _follow_up(follow_up, earlier, cfg)
    if why:
        return _named(why, k, "user")
    if at + 1 < len(messages):
        why = _reply(messages[at + 1]["content"], follow_up, messages[: at + 1], cfg)
        if why:
            return _named(why, k, "assistant")
    return None


def _follow_up(text: str, earlier: list[dict[str, str]], cfg: QualityConfig) -> Reject | None:
    if not text.strip():
        return Reject("empty_turn")
    if "chatter" not in cfg.skip and (_META.search(text) or _chatter_only(text)):
        return Reject("chatter")
    why = quality.check_instruction(text, cfg)
    if why:
        return why
    return _echo(text, earlier, ECHO_ROUGE)


def _reply(text: str, follow_up: str, earlier: list[dict[str, str]], cfg: QualityConfig) -> Reject | None:
    rules = {name: quality.INSTANCE_RULES[name] for name in REPLY_RULES}
    why = quality._first(rules, cfg.skip, None, Instance("", text), Task(follow_up, is_classification=False))
    if why:
        return why
    if "chatter" not in cfg.skip and _chatter_only(text):
        return Reject("chatter")
    same = [j for j, m in enumerate(earlier) if m["role"] == "assistant" and m["content"].split() == text.split()]
    if same:  # a small teacher answers a follow-up with its last answer again
        return Reject("echoes_turn", f"of turn {same[0] // 2 + 1} assistant")
    return None


def _chatter_only(text: str) -> bool:
    """Every sentence is manners: "Thank you!", "You're welcome! Let me know if you need more help."."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    return bool(sentences) and all(_PLEASANTRY.match(s) for s in sentences)


def _echo(text: str, earlier: list[dict[str, str]], threshold: float) -> Reject | None:
    """`text` close to an earlier message; message j belongs to turn j // 2 + 1."""
    if not earlier:
        return None
    _, best, of = rouge_filter([text], [m["content"] for m in earlier], threshold)
    if best[0] < threshold:
        return None
    j = int(of[0])
    return Reject("echoes_turn", f"of turn {j // 2 + 1} {earlier[j]['role']}, rouge={best[0]:.2f}")


def _named(why: Reject, k: int, role: str) -> Reject:
    return Reject(why.kind, f"turn {k} {role}" + (f", {why.detail}" if why.detail else ""))
