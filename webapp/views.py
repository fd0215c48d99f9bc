"""The web app's pages. Thin: each reads through the API's own selectors and payload functions,
so a page starts with exactly what the REST endpoints would answer, and renders a template.
Everything a user does afterwards goes through the API (static/app/*.js)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from aiapi.conversation_render import conversation_payload, summary_payload
from aiapi.conversation_selectors import conversation_get, conversation_list, conversation_messages
from aiapi.models import AiModel
from aiapi.openai_render import model_payload
from aiapi.selectors import active_catalogue, model_list
from chukchat.errors import ApiError

SIDEBAR_PAGE = 30


def chat_models() -> list[AiModel]:
    return [m for m in model_list(active_catalogue()) if m.kind == AiModel.Kind.CHAT]


@require_safe
def home(request):
    """Visitors see the landing page; signed-in users the chat app with a new chat."""
    if request.user.is_authenticated:
        return _app(request, conversation=None)
    return render(request, "webapp/landing.html", {"models": chat_models()})


@require_safe
@login_required
def conversation(request, conversation_id: int):
    try:
        found = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
    except ApiError:
        raise Http404("No such conversation.") from None
    return _app(request, conversation=found)


def _app(request, *, conversation):
    recent = list(conversation_list(owner_id=request.user.pk)[: SIDEBAR_PAGE + 1])
    state = {
        "models": [model_payload(m) for m in chat_models()],
        "defaultModel": settings.DEFAULT_CHAT_MODEL,
        "conversations": {
            "data": [summary_payload(c) for c in recent[:SIDEBAR_PAGE]],
            "hasMore": len(recent) > SIDEBAR_PAGE,
        },
        "conversation": (
            conversation_payload(conversation, conversation_messages(conversation=conversation))
            if conversation is not None
            else None
        ),
    }
    return render(
        request,
        "webapp/app.html",
        {"state": state, "conversation": conversation},
    )
