# The usage record moves from aiapi to billing, which owns usage and money. This step only
# moves Django's idea of the model (the table keeps its name here); the next renames it.

import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_apikey_rate_limits"),
        ("aiapi", "0005_provider_kind_local"),
        ("billing", "0006_stripeevent_status"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UsageRecord",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("request_id", models.CharField(max_length=64, unique=True)),
                        ("endpoint", models.CharField(max_length=40)),
                        ("model", models.CharField(max_length=128)),
                        ("provider", models.CharField(blank=True, max_length=64)),
                        ("upstream_model", models.CharField(blank=True, max_length=200)),
                        ("prompt_tokens", models.PositiveIntegerField(default=0)),
                        ("completion_tokens", models.PositiveIntegerField(default=0)),
                        ("reasoning_tokens", models.PositiveIntegerField(default=0)),
                        ("total_tokens", models.PositiveIntegerField(default=0)),
                        ("tokens_estimated", models.BooleanField(default=False)),
                        ("units", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=14)),
                        ("cost", models.DecimalField(decimal_places=10, default=Decimal("0"), max_digits=24)),
                        ("latency_ms", models.PositiveIntegerField(default=0)),
                        ("time_to_first_token_ms", models.PositiveIntegerField(blank=True, null=True)),
                        ("status", models.CharField(choices=[("ok", "Ok"), ("error", "Error"), ("cancelled", "Cancelled")], default="ok", max_length=16)),
                        ("error_code", models.CharField(blank=True, max_length=64)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("api_key", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="accounts.apikey")),
                        ("user", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="usage_records", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "aiapi_usagerecord",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["user", "created_at"], name="aiapi_usage_user_id_251971_idx"),
                            models.Index(fields=["api_key", "created_at"], name="aiapi_usage_api_key_1e4b23_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
