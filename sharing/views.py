"""The shared page: anyone with the link reads the conversation, signed in or not. A revoked
link, or one whose conversation is gone, is a 404 page that says so."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from sharing.selectors import shared_image_get, shared_link_get

# Not for search engines, not kept by caches (a revoked link must stop at once), and the link
# is not sent on as a referrer.
PRIVATE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
}


def _private(response: HttpResponse) -> HttpResponse:
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    return response


def _gone(request) -> HttpResponse:
    return _private(render(request, "sharing/gone.html", status=404))


@require_safe
def shared_conversation(request, token: str):
    # Here: its markdown parser costs every worker ~4 MB, and few requests show a shared chat.
    from sharing.shared_page import shared_entries

    link = shared_link_get(token=token)
    if link is None:
        return _gone(request)
    conversation = link.conversation
    return _private(
        render(
            request,
            "sharing/shared.html",
            {
                "conversation": conversation,
                "entries": shared_entries(conversation=conversation, token=token),
            },
        )
    )


@require_safe
def shared_image(request, token: str, image_id: int):
    image = shared_image_get(token=token, image_id=image_id)
    if image is None:
        return _gone(request)
    return _private(HttpResponse(bytes(image.data), content_type=image.content_type))
