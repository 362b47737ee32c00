"""System prompts per use case (companion, customer service, tutor) and the message window.

Replies are spoken, so every prompt asks for short, plain sentences without lists, markdown or
emoji (TTS would read them out). The customer-service prompt carries the passages retrieved from
the knowledge base for the user's question and tells the model to answer only from them.
`build_messages` keeps the system prompt and the newest history that fits a message count and a
character budget (small local models have a 2k-token context).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.llm.knowledge import KnowledgeBase

USE_CASES = ("companion", "customer_service", "tutor")

_SPOKEN = {
    "en": "Your words are spoken aloud by a digital human: answer in one to three short, plain "
    "sentences, with no lists, markdown, emoji or URLs.",
    "zh": "你的回答会由数字人用语音说出来：请用一到三句简短、口语化的话回答，"
    "不要使用列表、Markdown、表情符号或网址。",
}

_ROLES = {
    "companion": {
        "en": "You are a warm, friendly companion. Listen, show interest, and keep the "
        "conversation going with a short question now and then.",
        "zh": "你是一个温暖、友善的陪伴者。认真倾听，表现出兴趣，偶尔用一个简短的问题让对话继续。",
    },
    "customer_service": {
        "en": "You are a polite customer-service agent. Answer only from the reference "
        "information below. If it does not contain the answer, say you are not sure and offer "
        "to connect the user with a human colleague.",
        "zh": "你是一名礼貌的客服。只根据下面的参考资料回答。如果资料里没有答案，"
        "就说你不确定，并提出为用户转接人工客服。",
    },
    "tutor": {
        "en": "You are a patient tutor. Explain one idea at a time with a simple example, "
        "check understanding with a short question, and never just hand over answers to "
        "homework.",
        "zh": "你是一位耐心的老师。每次只讲一个要点并举一个简单的例子，"
        "用一个简短的问题确认学生是否理解，不要直接给出作业答案。",
    },
}

_REFERENCE_HEADER = {"en": "Reference information:", "zh": "参考资料："}
_NO_REFERENCE = {
    "en": "(No reference information matches this question.)",
    "zh": "（没有与这个问题相关的参考资料。）",
}


def _lang(language: str | None) -> str:
    return "zh" if (language or "en").lower().startswith(("zh", "cmn")) else "en"


def system_prompt(
    use_case: str = "companion",
    language: str | None = "en",
    knowledge: KnowledgeBase | None = None,
    question: str = "",
    persona: str | None = None,
) -> str:
    """The system prompt for `use_case` in `language` ("en" or "zh").

    `persona` (an agent's own prompt) replaces the role text; the spoken-style rule and, for
    customer service, the retrieved reference passages for `question` are always added.
    """
    if use_case not in _ROLES:
        raise ValueError(f"unknown use case {use_case!r}; one of {USE_CASES}")
    lang = _lang(language)
    parts = [persona or _ROLES[use_case][lang], _SPOKEN[lang]]
    if use_case == "customer_service":
        context = knowledge.context(question) if knowledge is not None and question else ""
        parts.append(f"{_REFERENCE_HEADER[lang]}\n{context or _NO_REFERENCE[lang]}")
    return "\n\n".join(parts)


def build_messages(
    system: str,
    history: Sequence[Mapping[str, str]],
    user: str | None = None,
    window: int = 20,
    max_chars: int = 4000,
) -> list[dict[str, str]]:
    """System prompt + the newest history within `window` messages and `max_chars` (+ `user`).

    The window never starts with an assistant message (a reply without its question confuses
    small models), and the newest user message is always kept whole.
    """
    messages = [dict(m) for m in history]
    if user is not None:
        messages.append({"role": "user", "content": user})
    kept: list[dict[str, str]] = []
    budget = max_chars - len(system)
    for m in reversed(messages[-window:] if window > 0 else []):
        if kept and budget - len(m["content"]) < 0:
            break
        kept.append(m)
        budget -= len(m["content"])
    kept.reverse()
    while len(kept) > 1 and kept[0]["role"] == "assistant":
        kept.pop(0)
    return [{"role": "system", "content": system}, *kept]
