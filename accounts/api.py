from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import balance_of


class UserStatusApi(APIView):
    """Who the caller is and what they have left."""

    def get(self, request):
        user = request.user
        return Response(
            {
                "email": user.email,
                "credits": {"balance": str(balance_of(user=user)), "currency": "usd"},
                "key": (
                    {"prefix": request.auth.prefix, "name": request.auth.name}
                    if request.auth is not None and hasattr(request.auth, "prefix")
                    else None
                ),
            }
        )
