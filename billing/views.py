"""Stripe's webhook endpoint: verify, then process once. An event whose data cannot be used is
answered 400 (recorded as failed, never retried to any effect); any other failure is a 5xx
answer so Stripe delivers the event again."""

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chukchat.errors import ApiError, error_response, json_response

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by Stripe's signature, not a cookie
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    # Imported here, as in billing/api.py: the Stripe SDK costs every API worker ~20 MB.
    from billing.services.webhooks import webhook_event_process, webhook_event_verify

    try:
        event = webhook_event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        processed = webhook_event_process(event=event)
    except ApiError as error:
        if error.status >= 500:
            logger.error("Stripe event not processed: %s", error.message)
        return error.response()
    except Exception:
        logger.exception("Stripe event handler failed; Stripe will retry")
        return error_response(
            500, "webhook_failed", "The event could not be processed; it will be retried."
        )
    return json_response({"received": True, "duplicate": not processed})
