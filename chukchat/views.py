from django.conf import settings
from django.views.decorators.http import require_GET

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


def api_not_found(request, rest: str = ""):
    return error_response(404, "not_found", f"No route for {request.method} {request.path}.")
