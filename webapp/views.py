"""The web app's pages. Thin: each reads through the API's own selectors and payload functions,
so a page starts with exactly what the REST endpoints would answer, and renders a template.
Everything a user does afterwards goes through the API (static/app/*.js)."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.api import export_payload, key_payload, this_month_payload
from accounts.models import DataExport
from accounts.selectors import api_key_list
from aiapi.conversation_render import conversation_payload, summary_payload
from aiapi.conversation_selectors import conversation_get, conversation_list, conversation_messages
from aiapi.models import AiModel
from aiapi.openai_render import model_payload
from aiapi.routing import serving_model
from aiapi.selectors import active_catalogue, model_list
from billing.allowances import free_allowance_grant
from billing.api import plan_payload
from billing.entitlements import FREE_PLAN_SLUG, entitlements_for
from billing.models import Plan
from billing.money import format_usd
from billing.selectors import balance_of, held_of, plan_list
from chukchat.errors import ApiError

SIDEBAR_PAGE = 30
TOPUP_PRESETS = [10, 20, 50, 100]  # the buy-credits buttons, within the API's bounds


def catalogue_models(kind: str) -> list[AiModel]:
    return [m for m in model_list(active_catalogue()) if m.kind == kind]


def chat_models() -> list[AiModel]:
    return catalogue_models(AiModel.Kind.CHAT)


def picker_payload(model: AiModel, catalogue) -> dict:
    """A chat model as GET /v1/models lists it, and whether the built-in demo would answer it
    now (no key for its provider): the picker says so instead of showing its prices."""
    serving = serving_model(model, catalogue)
    return {
        **model_payload(model),
        "servedByDemo": serving is not None and serving.provider.kind == "demo",
    }


@require_safe
def home(request):
    """Visitors see the landing page; signed-in users the chat app with a new chat."""
    if request.user.is_authenticated:
        return _app(request, conversation=None)
    return render(
        request,
        "webapp/landing.html",
        # Where deleting an account ends: signed out, on this page, told so.
        {"models": chat_models(), "deleted": request.GET.get("account") == "deleted"},
    )


@require_safe
@login_required
def conversation(request, conversation_id: int):
    try:
        found = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
    except ApiError:
        raise Http404("No such conversation.") from None
    return _app(request, conversation=found)


def _account(user) -> dict:
    """Plan and credit, as GET /v1/user/status has them: the sidebar and account pages show
    them from the first paint."""
    # A person's first page of a month brings their Free allowance for it (once a month).
    free_allowance_grant(user_id=user.pk)
    entitlements = entitlements_for(user_id=user.pk)
    plan = Plan.objects.filter(slug=entitlements.plan_slug).first()
    return {
        "plan": entitlements.plan_slug,
        "planName": plan.name if plan else entitlements.plan_slug.title(),
        "premiumModels": entitlements.premium_models,
        "balance": format_usd(balance_of(user=user)),
        "held": format_usd(held_of(user=user)),
        # What this deployment lets a person do when they are refused: buy (Stripe is set up)
        # or ask someone (static/app/refusals.js words it).
        "canBuy": bool(settings.STRIPE_SECRET_KEY),
        "support": settings.SUPPORT_CONTACT,
        "freeAllowance": format_usd(plan.monthly_allowance)
        if plan is not None and plan.slug == FREE_PLAN_SLUG
        else "0",
    }


def _app(request, *, conversation):
    recent = list(conversation_list(owner_id=request.user.pk)[: SIDEBAR_PAGE + 1])
    catalogue = active_catalogue()
    account = _account(request.user)
    state = {
        "models": [picker_payload(m, catalogue) for m in chat_models()],
        # Answers by these providers are the built-in demo's canned text (free): the footer
        # says so.
        "demoProviders": sorted(
            {m.provider.name for m in model_list(catalogue) if m.provider.kind == "demo"}
        ),
        "defaultModel": settings.DEFAULT_CHAT_MODEL,
        "imageModels": [model_payload(m) for m in catalogue_models(AiModel.Kind.IMAGE)],
        "defaultImageModel": settings.DEFAULT_IMAGE_MODEL,
        # The web app reads answers aloud with the first of these (static/app/readaloud.js).
        "speechModels": [model_payload(m) for m in catalogue_models(AiModel.Kind.SPEECH)],
        "account": account,
        "conversations": {
            "data": [summary_payload(c) for c in recent[:SIDEBAR_PAGE]],
            "hasMore": len(recent) > SIDEBAR_PAGE,
        },
        "conversation": (
            conversation_payload(conversation, conversation_messages(conversation=conversation))
            if conversation is not None
            else None
        ),
    }
    return render(
        request,
        "webapp/app.html",
        {"state": state, "conversation": conversation, "account": account},
    )


def _account_page(request, template: str, *, section: str, state: dict, extra=None):
    account = _account(request.user)
    return render(
        request,
        template,
        {
            "section": section,
            "account": account,
            "state": {"account": account, **state},
            **(extra or {}),
        },
    )


@require_safe
@login_required
def keys(request):
    return _account_page(
        request,
        "webapp/keys.html",
        section="keys",
        state={"keys": [key_payload(k) for k in api_key_list(user=request.user)]},
    )


@require_safe
@login_required
def usage(request):
    return _account_page(
        request,
        "webapp/usage.html",
        section="usage",
        state={
            "thisMonth": this_month_payload(user=request.user),
            "models": [
                {"id": m.public_id, "name": m.display_name or m.public_id}
                for m in model_list(active_catalogue())
            ],
            "keys": [
                {"id": k.pk, "name": k.name, "prefix": k.prefix, "revoked": k.revoked}
                for k in api_key_list(user=request.user)
            ],
        },
    )


@require_safe
@login_required
def billing(request):
    return _account_page(
        request,
        "webapp/billing.html",
        section="billing",
        extra={
            "topup_presets": [
                amount
                for amount in TOPUP_PRESETS
                if settings.TOPUP_MIN_USD <= amount <= settings.TOPUP_MAX_USD
            ]
        },
        state={
            "plans": [plan_payload(p) for p in plan_list()],
            "topup": {
                "min": format_usd(settings.TOPUP_MIN_USD),
                "max": format_usd(settings.TOPUP_MAX_USD),
            },
            # Shown up front; the endpoints answer 503 billing_not_configured all the same.
            "configured": bool(settings.STRIPE_SECRET_KEY),
        },
    )


@require_safe
@login_required
def account_settings(request):
    user = request.user
    pending = (
        EmailAddress.objects.filter(user=user, verified=False)
        .exclude(email__iexact=user.email)
        .order_by("-id")
        .first()
    )
    return _account_page(
        request,
        "webapp/settings.html",
        section="settings",
        state={
            "email": user.email,
            "pendingEmail": pending.email if pending else None,
            "exports": [export_payload(e) for e in DataExport.objects.filter(user=user)[:5]],
        },
    )
