"""Billing routes, included under /v1/billing/."""

from django.urls import path

from billing import api

urlpatterns = [
    path("plans", api.PlanListApi.as_view(), name="billing-plans"),
    path("checkout", api.CheckoutApi.as_view(), name="billing-checkout"),
    path("portal", api.PortalApi.as_view(), name="billing-portal"),
    path("sync", api.SyncApi.as_view(), name="billing-sync"),
    path("invoices", api.InvoiceListApi.as_view(), name="billing-invoices"),
]
