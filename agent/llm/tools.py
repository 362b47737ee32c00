"""Tool calls the LLM may make while it answers, e.g. playing one of the avatar's actions.

A `Tool` is an OpenAI function schema; `LLMClient.stream_events(messages, tools)` yields text and
`ToolCall`s (arguments parsed from the streamed JSON). `action_tool` offers the avatar's action
names (the DoAction names) as an enum, so the model can only ask for actions that exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call from the model; `error` is set when its arguments were not JSON."""

    name: str
    arguments: dict[str, Any]
    id: str = ""
    error: str | None = None


PLAY_ACTION = "play_action"


def action_tool(actions: list[str]) -> Tool:
    """A tool that plays one of the avatar's actions (gestures) while it speaks."""
    return Tool(
        PLAY_ACTION,
        "Play a gesture of the digital human while speaking, when it fits what you say "
        "(for example wave when greeting).",
        {
            "type": "object",
            "properties": {"action": {"type": "string", "enum": list(actions)}},
            "required": ["action"],
        },
    )
