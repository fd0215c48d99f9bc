from decimal import Decimal

from django.db import migrations

# A new account can chat at once: the Free plan grants a small allowance each month (edited in
# admin like any plan's). Only a Free plan still at the seeded $0 is changed; an operator's own
# amount stays.
FREE_ALLOWANCE = Decimal("0.50")


def forwards(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="free", monthly_allowance=0).update(monthly_allowance=FREE_ALLOWANCE)


def backwards(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="free", monthly_allowance=FREE_ALLOWANCE).update(
        monthly_allowance=Decimal(0)
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_usage_discrepancy_holds_owner_processes")]

    operations = [migrations.RunPython(forwards, backwards)]
