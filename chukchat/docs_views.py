"""The published API schema (GET /v1/openapi.json) and the page that renders it (GET /docs)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from chukchat.errors import json_response


@require_GET
def openapi_json(request):
    # Here: drf-spectacular (and django.test, which it imports) cost every worker ~8 MB.
    from chukchat.openapi_schema import openapi_document

    response = json_response(openapi_document())
    response["Access-Control-Allow-Origin"] = "*"  # public, and read by other tools' docs UIs
    return response


@require_GET
def docs(request):
    return render(request, "docs/index.html")
