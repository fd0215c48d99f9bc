# The usage record now belongs to billing (billing 0007 took over the same table).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("aiapi", "0005_provider_kind_local"),
        ("billing", "0007_usagerecord_from_aiapi"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="UsageRecord")],
            database_operations=[],
        ),
    ]
