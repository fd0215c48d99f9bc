"""A saved chat's own system prompt, applied by the server to every turn of the chat.

The prompt goes first as the system message, unless the turn already carries instructions:
the request's `system` field, or a system message (sent with this turn, or stored in the
chat's history). So a client that sends its own system message is not sent the chat's as
well, and the web app, which sends none, always gets the chat's current prompt. The chat's
temperature and max tokens are kept with it for the web app, which sends them with each
message."""

from __future__ import annotations


def with_chat_system_prompt(messages: list[dict], *, system_prompt: str) -> list[dict]:
    if not system_prompt or any(m.get("role") == "system" for m in messages):
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]
