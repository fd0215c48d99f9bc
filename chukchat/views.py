from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from chukchat import metrics as platform_metrics
from chukchat import ops_tokens
from chukchat.errors import error_response, json_response
from chukchat.health import ready_report


@require_GET
def live(request):
    """The process answers: nothing else is touched (a liveness probe must not fail, and get
    the process restarted, because the database is slow)."""
    return json_response({"status": "ok"})


@require_GET
def ready(request):
    """Whether this process should get traffic. The parts, their backends and latencies are
    shown only to a caller with the health or the metrics token."""
    report = ready_report()
    status = 200 if report["status"] == "ok" else 503
    if ops_tokens.presents(request, settings.HEALTH_TOKEN, settings.METRICS_TOKEN):
        return json_response(
            {**report, "mode": "embedded" if settings.EMBEDDED else "services"}, status=status
        )
    return json_response({"status": report["status"]}, status=status)


@require_GET
def metrics(request):
    """Prometheus text, for the scraper that has CHUK_METRICS_TOKEN; without the setting the
    route does not exist."""
    if not settings.METRICS_TOKEN:
        return error_response(404, "not_found", f"No route for {request.method} {request.path}.")
    if not ops_tokens.presents(request, settings.METRICS_TOKEN):
        return error_response(401, "invalid_token", "A valid metrics token is required.")
    body, content_type = platform_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


def api_not_found(request, rest: str = ""):
    return error_response(404, "not_found", f"No route for {request.method} {request.path}.")
