"""Telling open WebSockets that their credentials are gone.

A socket is authenticated when it opens; it joins the channel-layer group of its user
(`user.<id>`) and, opened with a key, of that key (`key.<id>`). Revoking a key, and deleting or
deactivating an account, send those groups a message once the change has committed, in every
server process: the sockets stop their streams (settled as cancelled) and close, 4401 for a key
that no longer works and 4403 for an account that no longer may. A message that is lost (the
channel layer was away) is bounded by the sockets' own re-check of their credentials, which
reads the same cache as the HTTP path (API_KEY_CACHE_SECONDS).

Deleting an account first closes its sockets and waits (a bounded while) until each has settled
the answers it was streaming (`close_sockets_and_wait`): so those are charged and recorded while
the account and its keys still exist, and erased with the rest; no usage row is written after.
"""

from __future__ import annotations

import logging
import secrets
import time

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

KEY_REVOKED = 4401
ACCOUNT_CLOSED = 4403
MESSAGE_TYPE = "credentials.revoked"  # ChatConsumer.credentials_revoked
# How long deleting an account waits for its sockets to settle their answers (a socket waits
# aiapi.consumers.REVOKED_SETTLE_SECONDS for its own).
DRAIN_SECONDS = 12.0
HEARD_SECONDS = 1.0  # how long it waits for every socket to have heard it
ACK_SECONDS = 60  # how long the sockets' counts are kept


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def key_group(key_id: int) -> str:
    return f"key.{key_id}"


def _send(group: str, code: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "code": code})
    except Exception:  # the sockets' own re-check closes them within the cache's lifetime
        logger.exception("could not tell the sockets of %s that they are closed", group)


def announce_key_revoked(*, key_id: int) -> None:
    """Once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(key_group(key_id), KEY_REVOKED))


def announce_account_closed(*, user_id: int) -> None:
    """Deleted or deactivated; once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(user_group(user_id), ACCOUNT_CLOSED))


async def _members(group: str) -> int:
    """How many sockets, in all processes, are in `group` now (0 when the layer cannot say)."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return len(layer.groups.get(group, {}))
    try:  # channels_redis: a group is a sorted set of channel names, scored by when they joined
        key = layer._group_key(group)
        connection = layer.connection(layer.consistent_hash(group))
        oldest = int(time.time()) - layer.group_expiry
        return await connection.zcount(key, oldest, "+inf")
    except Exception:
        logger.warning("could not count the sockets of %s", group, exc_info=True)
        return 0


async def _close_now(group: str, code: int, ack: str) -> int:
    layer = get_channel_layer()
    members = await _members(group)
    if members:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "code": code, "ack": ack})
    return members


def close_sockets_and_wait(
    *, user_id: int, within: float = DRAIN_SECONDS, heard_within: float = HEARD_SECONDS
) -> bool:
    """Closes the account's open sockets (4403) now, and returns once every one of them has
    settled what it was streaming, or `within` seconds have passed (False then).

    Each socket that hears it counts itself ("heard") after counting the answers it stops
    ("streaming"), and counts those again once they are settled ("settled"). A group member
    that never answers (its process died without leaving the group) holds this up for
    `heard_within` seconds at most."""
    if get_channel_layer() is None:
        return True
    ack = f"chuk:socket-drain:{secrets.token_hex(8)}"
    try:
        members = async_to_sync(_close_now)(user_group(user_id), ACCOUNT_CLOSED, ack)
    except Exception:
        logger.exception("could not close the sockets of user %s", user_id)
        return False
    if not members:
        return True
    names = {part: f"{ack}:{part}" for part in ("heard", "streaming", "settled")}

    def counts() -> dict[str, int]:
        found = cache.get_many(list(names.values()))
        return {part: found.get(name) or 0 for part, name in names.items()}

    started = time.monotonic()
    while counts()["heard"] < members and time.monotonic() - started < heard_within:
        time.sleep(0.02)
    while (now := counts())["settled"] < now["streaming"]:
        if time.monotonic() - started > within:
            logger.warning("sockets of user %s: not all settled in %s s", user_id, within)
            return False
        time.sleep(0.05)
    return True


async def acknowledge(ack: str | None, part: str, count: int = 1) -> None:
    """A socket told to close by close_sockets_and_wait counts itself in: `part` is "heard",
    "streaming" (the answers it stops) or "settled" (those, once settled)."""
    if not ack or count <= 0:
        return
    name = f"{ack}:{part}"
    try:
        await cache.aadd(name, 0, ACK_SECONDS)
        await cache.aincr(name, count)
    except Exception:
        logger.warning("could not acknowledge %s", name, exc_info=True)
