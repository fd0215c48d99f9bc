"""Which request (or Celery job) a log line belongs to, and the JSON line format.

Each HTTP request gets a `RequestLog` in a contextvar (chukchat/request_context.py sets it):
its request id — the client's `X-Request-Id` when well-formed, else one of ours — and the
facts learnt along the way (`bind`: the user, the key's prefix, the model, the provider). The
object is shared, not copied, by the tasks and threads the request spawns, so what a service
binds is seen by the request's last log line too.

The chat service keys each charge by its own unique id (billing is idempotent by it, and a
client's id may repeat). Without a client id, the request id becomes that usage id, so the
logs, the `x-request-id` header and the usage record say the same; with one, the usage id is
logged beside it as `usage_id` (and sent as `x-chuk-usage-id`).

`CHUK_LOG_FORMAT=json` selects `JsonFormatter`: one JSON object per line."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import UTC, datetime

import orjson

_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The facts a line carries when known, from the request's context or the log call's `extra`.
FIELDS = ("user_id", "key_prefix", "model", "provider", "status", "latency_ms", "usage_id")


class RequestLog:
    __slots__ = ("adopted", "fields", "from_client", "request_id")

    def __init__(self, request_id: str, *, from_client: bool) -> None:
        self.request_id = request_id
        self.from_client = from_client
        self.fields: dict[str, object] = {}
        self.adopted = False


_current: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "chuk_request_log", default=None
)


def well_formed(value: str | None) -> str | None:
    return value if value and _WELL_FORMED.fullmatch(value) else None


def begin(incoming: str | None) -> tuple[RequestLog, contextvars.Token]:
    """A new request's log context: the client's id if it is well-formed, else a new one."""
    client_id = well_formed(incoming)
    log = RequestLog(client_id or uuid.uuid4().hex, from_client=client_id is not None)
    return log, _current.set(log)


def end(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> RequestLog | None:
    return _current.get()


def current_request_id() -> str | None:
    log = _current.get()
    return log.request_id if log is not None else None


def bind(**fields) -> None:
    """Facts for the rest of this request's log lines (nothing outside a request)."""
    log = _current.get()
    if log is not None:
        log.fields.update(fields)


def adopt_usage_id(usage_id: str) -> None:
    """The chat service's own id for this request's charge (see the module's docstring)."""
    log = _current.get()
    if log is None or log.adopted:  # a request's later calls (a chat's title) keep the first
        return
    log.adopted = True
    if log.from_client:
        log.fields["usage_id"] = usage_id
    else:
        log.request_id = usage_id


def enter_job(request_id: str | None) -> contextvars.Token | None:
    """A Celery job carrying the id of the request that queued it (chukchat/celery.py)."""
    if request_id is None:
        return None
    return _current.set(RequestLog(request_id, from_client=True))


def leave_job(token: contextvars.Token | None) -> None:
    if token is not None:
        _current.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, and the
    request's facts; a traceback as one string field."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Python's warnings go to stderr as plain text otherwise, breaking one-object-per-line.
        logging.captureWarnings(True)

    def format(self, record: logging.LogRecord) -> str:
        log = _current.get()
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": log.request_id if log is not None else None,
        }
        if log is not None:
            line.update(log.fields)
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()
