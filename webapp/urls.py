from django.urls import path

from webapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<int:conversation_id>", views.conversation, name="conversation"),
    # The account pages. /billing is where Stripe's Checkout and Customer Portal send people
    # back to (STRIPE_CHECKOUT_SUCCESS_URL and friends default to it).
    path("usage", views.usage, name="usage"),
    path("keys", views.keys, name="keys"),
    path("billing", views.billing, name="billing"),
    path("settings", views.account_settings, name="settings"),
]
