"""Reading the Chuk chat API's answers the way a client does: SSE events as JSON objects."""

import orjson


def sse_events(lines) -> list[dict | str]:
    """Each `data:` line as a dict; heartbeat comments as the string ": ping"."""
    events: list[dict | str] = []
    for line in lines:
        if line.startswith(":"):
            events.append(line.strip())
        elif line.startswith("data: "):
            events.append(orjson.loads(line[6:]))
    return events


def text_of(events) -> str:
    return "".join(e["text"] for e in events if isinstance(e, dict) and "text" in e)
