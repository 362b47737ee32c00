"""Use-case prompts, knowledge-base retrieval, the history window and tool calls."""

from __future__ import annotations

import pytest

from agent.llm.client import LLMClient, LLMConfig
from agent.llm.knowledge import KnowledgeBase, terms
from agent.llm.prompts import build_messages, system_prompt
from agent.llm.tools import PLAY_ACTION, ToolCall, action_tool

try:
    from tests.fake_llm import FakeLLM
except ImportError:  # pytest run without the repo root on sys.path
    from fake_llm import FakeLLM  # type: ignore[no-redef]

FAQ = """Our store opens at 9 am and closes at 6 pm, Monday to Saturday. On Sundays we are closed.

Returns are accepted within 30 days with the receipt. Refunds go back to the original card.

Shipping is free for orders over 50 dollars; otherwise it costs 5 dollars.

退货：收到商品后三十天内可以凭小票退货，退款原路返回。

营业时间：周一到周六上午九点到下午六点，周日休息。"""


def test_retrieval_finds_the_right_passage_in_both_languages() -> None:
    kb = KnowledgeBase.from_texts([FAQ], source="faq")
    assert len(kb) == 5
    assert kb.search("When do you open on Saturday?")[0][0].text.startswith("Our store opens")
    assert kb.search("Can I return shoes?")[0][0].text.startswith("Returns")
    assert kb.search("how much is shipping")[0][0].text.startswith("Shipping")
    assert kb.search("我想退货")[0][0].text.startswith("退货")
    assert kb.search("周日营业吗")[0][0].text.startswith("营业时间")
    assert kb.search("quantum chromodynamics") == []
    assert "退" in terms("退货") or "退货" in terms("退货")


def test_customer_service_prompt_carries_retrieved_passages() -> None:
    kb = KnowledgeBase.from_texts([FAQ])
    prompt = system_prompt("customer_service", "en", kb, "What is your refund policy for returns?")
    assert "Returns are accepted within 30 days" in prompt
    assert "Shipping is free" not in prompt or prompt.index("Returns") < prompt.index("Shipping")
    assert "only from the reference" in prompt
    zh = system_prompt("customer_service", "zh-CN", kb, "可以退货吗")
    assert "三十天内" in zh and "参考资料" in zh
    nothing = system_prompt("customer_service", "en", kb, "Tell me about volcanoes")
    assert "No reference information" in nothing
    for use_case in ("companion", "tutor"):
        assert "markdown" in system_prompt(use_case, "en")
        assert "Markdown" in system_prompt(use_case, "zh")
    assert system_prompt("companion", "en", persona="You are Ada.").startswith("You are Ada.")
    with pytest.raises(ValueError):
        system_prompt("pirate")


def test_history_window() -> None:
    history = []
    for i in range(30):
        history += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    msgs = build_messages("sys", history, "last question", window=5)
    assert msgs[0] == {"role": "system", "content": "sys"}
    assert msgs[-1] == {"role": "user", "content": "last question"}
    assert len(msgs) <= 6 and msgs[1]["role"] == "user"  # never opens on an assistant turn
    long = [
        {"role": "user", "content": "x" * 1000},
        {"role": "assistant", "content": "y" * 1000},
    ] * 5
    msgs = build_messages("sys", long, "now?", window=50, max_chars=2500)
    assert sum(len(m["content"]) for m in msgs) <= 2500
    assert msgs[-1]["content"] == "now?"
    assert build_messages("sys", [], None, window=0) == [{"role": "system", "content": "sys"}]


async def test_tool_call_streams_with_the_text() -> None:
    async with FakeLLM(
        reply="Hello! Nice to meet you.",
        tool_calls=[(PLAY_ACTION, '{"action": "wave"}'), ("other", "{not json")],
    ) as fake:
        client = LLMClient(LLMConfig(base_url=fake.base_url))
        tool = action_tool(["wave", "nod"])
        events = [
            e async for e in client.stream_events([{"role": "user", "content": "hi"}], [tool])
        ]
        sent_tools = fake.stats.requests[0]["tools"]
    text = "".join(e for e in events if isinstance(e, str))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert text == "Hello! Nice to meet you."
    assert calls[0] == ToolCall(PLAY_ACTION, {"action": "wave"}, "call_0")
    assert calls[1].name == "other" and calls[1].error is not None
    assert sent_tools[0]["function"]["parameters"]["properties"]["action"]["enum"] == [
        "wave",
        "nod",
    ]
