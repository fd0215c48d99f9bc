"""One shape for every paginated list in the API: `{"object": "list", "data", "offset",
"limit", "hasMore"}`, read with one query (a row past the page says whether there is more)."""

from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework import serializers

# Far past any list a person has, and far inside what the database's OFFSET takes (bigint).
MAX_OFFSET = 1_000_000_000


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)


def page_payload(queryset: QuerySet, *, offset: int, limit: int, render: Callable) -> dict:
    rows = list(queryset[offset : offset + limit + 1])
    return {
        "object": "list",
        "data": [render(row) for row in rows[:limit]],
        "offset": offset,
        "limit": limit,
        "hasMore": len(rows) > limit,
    }
