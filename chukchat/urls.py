from django.contrib import admin
from django.urls import include, path, re_path

from accounts.admin_login import admin_login
from billing.views import stripe_webhook
from chukchat import docs_views, views

urlpatterns = [
    path("health/live", views.live, name="health-live"),
    path("health/ready", views.ready, name="health-ready"),
    # The one health route there was before the split: readiness, as it always meant.
    path("health", views.ready, name="health"),
    path("v1/health", views.ready),
    path("metrics", views.metrics, name="metrics"),
    # The published schema of the whole API, and its reference page.
    path("v1/openapi.json", docs_views.openapi_json, name="openapi-json"),
    path("docs", docs_views.docs, name="api-docs"),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("v1/", include("accounts.urls")),
    path("v1/billing/", include("billing.urls")),
    path("billing/webhooks/stripe", stripe_webhook, name="stripe-webhook"),
    path("v1/", include("aiapi.urls")),
    path("api/v1/", include("aiapi.urls")),
    path("v1/", include("media_tools.urls")),
    path("api/v1/", include("media_tools.urls")),
    # Sharing a chat (a read-only link) and importing one.
    path("v1/", include("sharing.api_urls")),
    # Unknown API routes answer in the API's JSON error format, never an HTML page.
    re_path(r"^(?:v1|api)/(?P<rest>.*)$", views.api_not_found),
    # A shared chat, for anyone with its link.
    path("s/", include("sharing.urls")),
    # The web app's pages: landing, the chat app, a conversation.
    path("", include("webapp.urls")),
]
