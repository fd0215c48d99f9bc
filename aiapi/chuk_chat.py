"""One turn of the Chuk chat API, whatever carries it: `POST /v1/ai/chat` (JSON or SSE),
`/v1/ai/chat/stream`, or a WebSocket frame.

`parse_turn` validates the body; `start_turn` loads the conversation it continues, starts the
metered call (everything that can refuse it happens there) and stores the user's message;
`ChukTurn.events()` yields the Chuk events (meta, text, reasoning, usage, then done or error),
settling the call and storing the answer before the last one. A turn abandoned mid-way (client
gone, cancel) is settled for what was generated and its partial answer kept."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.conf import settings

from aiapi import chat_compare
from aiapi.chat_input import ChatInput, bad, has_nul, parse_chat_input
from aiapi.chat_service import Caller, ChatCall, start_chat
from aiapi.chat_settings import with_chat_system_prompt
from aiapi.conversation_selectors import conversation_get, turn_context
from aiapi.conversations import answer_record, conversation_title_set, text_of, turn_begin
from aiapi.events import ContentDelta, Done, ErrorEvent, Meta, ReasoningDelta
from aiapi.wire import chuk as chuk_wire
from chukchat.db_threads import db_call

logger = logging.getLogger(__name__)

PASSED_THROUGH = ("temperature", "top_p", "top_k", "stop", "seed")
SAVED_ROLES = {"system", "user"}
MAX_ID = 2**63 - 1  # the largest id the database holds (bigint)
COMPARE_ID = re.compile(r"[A-Za-z0-9_-]+")

# Strong references to background work (titles), so it is not collected mid-way.
_background: set[asyncio.Task] = set()


@dataclass(frozen=True, slots=True)
class TurnInput:
    chat: ChatInput
    system: str | None
    conversation: int | str | None  # an id, "new", or None for a call that is not saved
    regenerate: bool
    edit_message_id: int | None
    compare: str | None = None  # one answer of a comparison: stored as a candidate only

    @property
    def saved(self) -> bool:
        return self.conversation is not None and self.compare is None


def database_id(value) -> int | None:
    """The id a JSON value names (a positive integer, or its ASCII digits as a string) when
    the database can hold it, else None. "²" is a digit to str.isdigit(), not to us."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def parse_turn(body: dict) -> TurnInput:
    conversation = body.get("conversation_id")
    if conversation is not None and conversation != "new":
        conversation = database_id(conversation)
        if conversation is None:
            raise bad('conversation_id must be an id or "new"', param="conversation_id")
    regenerate = body.get("regenerate", False)
    if not isinstance(regenerate, bool):
        raise bad("regenerate must be true or false", param="regenerate")
    edit_message_id = body.get("edit_message_id")
    if edit_message_id is not None and (
        not isinstance(edit_message_id, int) or database_id(edit_message_id) is None
    ):
        raise bad("edit_message_id must be a message id", param="edit_message_id")
    if (regenerate or edit_message_id is not None) and conversation in (None, "new"):
        raise bad(
            "regenerate and edit_message_id need the conversation_id of a saved conversation",
            param="conversation_id",
        )
    compare = body.get("compare")
    if compare is not None:
        if (
            not isinstance(compare, str)
            or not 1 <= len(compare) <= chat_compare.MAX_COMPARE_ID
            or not COMPARE_ID.fullmatch(compare)
        ):
            raise bad(
                "compare must be an id of 1 to 64 letters, digits, '-' or '_'", param="compare"
            )
        if conversation is None:
            raise bad('compare needs a conversation_id (or "new")', param="conversation_id")
        if regenerate or edit_message_id is not None:
            raise bad("compare takes a new message, not regenerate or edit", param="compare")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        raise bad("system must be a string", param="system")
    if system is not None and has_nul(system):
        raise bad("system must not contain NUL (\\u0000) characters", param="system")

    messages = body.get("messages")
    content = body.get("content")
    if messages is not None and content is not None:
        raise bad("send either messages or content, not both", param="content")
    if content is not None:
        messages = [{"role": "user", "content": content}]
    if regenerate:
        if messages:
            raise bad("regenerate takes no new messages", param="messages")
        messages = []
    if conversation is not None and isinstance(messages, list) and messages:
        # Roles that are not strings are refused with the other malformed messages below.
        roles = {
            m["role"] for m in messages if isinstance(m, dict) and isinstance(m.get("role"), str)
        }
        if not roles <= SAVED_ROLES:
            raise bad(
                "a saved conversation takes new user (or system) messages only",
                param="messages",
                code="invalid_messages",
            )

    openai_body = {
        "model": body.get("model") or settings.DEFAULT_CHAT_MODEL,
        "messages": messages,
        "max_tokens": body.get("max_tokens", settings.DEFAULT_MAX_TOKENS),
    }
    for name in PASSED_THROUGH:
        if name in body:
            openai_body[name] = body[name]
    # A regenerate asks again with the conversation's own history and nothing new.
    chat = parse_chat_input(openai_body, allow_empty_messages=regenerate)
    return TurnInput(
        chat=chat,
        system=system,
        conversation=conversation,
        regenerate=regenerate,
        edit_message_id=edit_message_id,
        compare=compare,
    )


@dataclass
class ChukTurn:
    call: ChatCall
    conversation_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    answer_id: int | None = None
    new_conversation: bool = False
    # One answer of a comparison: (compare id, conversation id, its last message id, the new
    # messages), kept as a candidate once settled.
    candidate: tuple | None = None
    _settling: asyncio.Future | None = None

    async def events(self) -> AsyncIterator[tuple[str, dict]]:
        """(kind, fields) pairs: meta first, then text / reasoning deltas, then usage and done,
        or error. The call is settled and the answer stored before the last pair."""
        call = self.call
        try:
            async for event in call.events():
                if isinstance(event, ContentDelta):
                    yield "text", {"text": event.text}
                elif isinstance(event, ReasoningDelta):
                    yield "reasoning", {"reasoning": event.text}
                elif isinstance(event, Meta):
                    yield (
                        "meta",
                        chuk_wire.meta_fields(call, conversation_id=self.conversation_id),
                    )
                elif isinstance(event, ErrorEvent):
                    await self.settle()
                    yield "error", chuk_wire.error_fields(event)
                    return
                elif isinstance(event, Done):
                    await self.settle()
                    yield "usage", chuk_wire.usage_fields(call)
                    yield (
                        "done",
                        chuk_wire.done_fields(
                            call, conversation_id=self.conversation_id, message_id=self.answer_id
                        ),
                    )
                    return
        finally:
            # Abandoned (client gone, cancelled): the provider call is already closed by
            # routing; charge what was generated and keep the partial answer.
            await self.settle(cancelled=True)

    async def settle(self, *, cancelled: bool = False) -> None:
        """Settles once, whoever asks first. Shielded: a cancel arriving meanwhile cannot
        interrupt the charge or the answer's record half-way."""
        if self._settling is None:
            self._settling = asyncio.ensure_future(self._settle(cancelled=cancelled))
        await asyncio.shield(self._settling)

    async def _settle(self, *, cancelled: bool) -> None:
        await self.call.finish(cancelled=cancelled)
        if self.candidate is not None and self.call.error is None and self.call.text:
            compare_id, conversation_id, after_message_id, messages = self.candidate
            try:
                await chat_compare.candidate_save(
                    owner_id=self.call.caller.user_id,
                    request_id=self.call.request_id,
                    compare_id=compare_id,
                    conversation_id=conversation_id,
                    after_message_id=after_message_id,
                    messages=messages,
                    text=self.call.text,
                    reasoning=self.call.reasoning_text,
                    finish_reason="cancelled" if cancelled else (self.call.finish_reason or ""),
                )
            except Exception:  # charged all the same; it just cannot be kept
                logger.warning("compared answer %s not kept as a candidate", self.call.request_id)
        if self.conversation_id is not None:
            answer = await db_call(
                answer_record,
                conversation_id=self.conversation_id,
                call=self.call,
                cancelled=cancelled,
            )
            self.answer_id = answer.pk
            if self.new_conversation and self.call.error is None and settings.CHAT_TITLE_MODEL:
                task = asyncio.create_task(self._generate_title())
                _background.add(task)
                task.add_done_callback(_background.discard)

    async def _generate_title(self) -> None:
        """A short title from the first exchange, by the cheap model in settings, metered to
        the same caller. The first words stay the title if anything goes wrong."""
        question = text_of(self.call.request.messages[-1]["content"])[:2000]
        try:
            chat = parse_chat_input(
                {
                    "model": settings.CHAT_TITLE_MODEL,
                    "max_tokens": 24,
                    "messages": [
                        {
                            "role": "system",
                            "content": "Write a title of at most six words for a chat that "
                            "starts with the user's message below. Answer with the title only.",
                        },
                        {"role": "user", "content": question},
                    ],
                }
            )
            call = await start_chat(
                caller=self.call.caller,
                model_id=chat.model,
                request=chat.request,
                endpoint="ai.chat.title",
                stream=False,
                rate_category=None,  # the platform's own call, not the user's request
            )
            async for _ in call.events():
                pass
            await call.finish()
            if call.error is None and call.text.strip():
                await db_call(
                    conversation_title_set, conversation_id=self.conversation_id, title=call.text
                )
        except Exception:
            logger.warning("title for conversation %s not generated", self.conversation_id)


async def start_turn(
    *, caller: Caller, turn: TurnInput, stream: bool, endpoint: str = "ai.chat"
) -> ChukTurn:
    """Everything that can refuse the turn happens here, before any provider is asked and
    before anything is stored."""
    request = turn.chat.request
    new_messages = list(request.messages)
    context = None
    after_message_id = None
    if isinstance(turn.conversation, int):

        def load():
            conversation = conversation_get(
                owner_id=caller.user_id, conversation_id=turn.conversation
            )
            context = turn_context(
                conversation=conversation,
                regenerate=turn.regenerate,
                edit_message_id=turn.edit_message_id,
            )
            return context, chat_compare.last_message_id(conversation)

        context, after_message_id = await db_call(load)
        request.messages = context.history + new_messages
    if turn.system:
        request.messages.insert(0, {"role": "system", "content": turn.system})
    if context is not None:
        request.messages = with_chat_system_prompt(
            request.messages, system_prompt=context.system_prompt
        )
    if turn.compare is not None:
        await chat_compare.compare_slot_take(owner_id=caller.user_id, compare_id=turn.compare)
    try:
        call = await start_chat(
            caller=caller,
            model_id=turn.chat.model,
            request=request,
            endpoint=endpoint,
            stream=stream,
        )
    except BaseException:
        if turn.compare is not None:
            await chat_compare.compare_slot_give_back(
                owner_id=caller.user_id, compare_id=turn.compare
            )
        raise
    chuk = ChukTurn(call=call)
    if turn.compare is not None:
        conversation_id = turn.conversation if context is not None else None
        chuk.candidate = (turn.compare, conversation_id, after_message_id, new_messages)
    if turn.saved:
        try:
            chuk.conversation_id, chuk.message_ids = await db_call(
                turn_begin,
                owner_id=caller.user_id,
                conversation_id=turn.conversation if context is not None else None,
                model=call.model.public_id,
                new_messages=new_messages,
                drop_from_id=context.drop_from_id if context is not None else None,
            )
        except BaseException:
            await chuk.settle(cancelled=True)
            raise
        chuk.new_conversation = context is None
    return chuk
