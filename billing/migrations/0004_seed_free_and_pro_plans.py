from decimal import Decimal

from django.db import migrations

# The plans every deployment starts with; admins edit them afterwards (prices, allowance, which
# Stripe price sells Pro). Existing rows are left as they are.
PLANS = [
    {
        "slug": "free",
        "name": "Free",
        "monthly_price": Decimal("0"),
        "monthly_allowance": Decimal("0"),
        "includes_premium_models": False,
        "sort_order": 0,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "monthly_price": Decimal("20"),
        "monthly_allowance": Decimal("20"),
        "includes_premium_models": True,
        "sort_order": 10,
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in PLANS:
        Plan.objects.get_or_create(slug=plan["slug"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_plans_subscriptions_key_caps")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
