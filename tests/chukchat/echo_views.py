"""A tiny URLconf for exercising the shared request parsing and error handling."""

from django.urls import include, path

from chukchat.errors import json_response
from chukchat.json_body import parse_json_body


def echo(request):
    return json_response(parse_json_body(request))


def crash(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("v1/echo", echo),
    path("v1/crash", crash),
    path("", include("chukchat.urls")),
]
