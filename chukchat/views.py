from django.views.decorators.http import require_GET

from chukchat.errors import error_response, json_response
from chukchat.health import run_checks


@require_GET
def health(request):
    report = run_checks()
    return json_response(report, status=200 if report["status"] == "ok" else 503)


def api_not_found(request, rest: str = ""):
    return error_response(404, "not_found", f"No route for {request.method} {request.path}.")
