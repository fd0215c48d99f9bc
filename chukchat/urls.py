from django.contrib import admin
from django.urls import include, path, re_path

from billing.views import stripe_webhook
from chukchat import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("v1/health", views.health),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("v1/", include("accounts.urls")),
    path("v1/billing/", include("billing.urls")),
    path("billing/webhooks/stripe", stripe_webhook, name="stripe-webhook"),
    path("v1/", include("aiapi.urls")),
    path("api/v1/", include("aiapi.urls")),
    path("v1/", include("media_tools.urls")),
    path("api/v1/", include("media_tools.urls")),
    # Unknown API routes answer in the API's JSON error format, never an HTML page.
    re_path(r"^(?:v1|api)/(?P<rest>.*)$", views.api_not_found),
    # The web app's pages: landing, the chat app, a conversation.
    path("", include("webapp.urls")),
]
