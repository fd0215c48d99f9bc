"""Our endpoints' wire formats over the one internal event stream (aiapi/events.py), and the
one SSE writer under every streamed format (sse.py)."""
