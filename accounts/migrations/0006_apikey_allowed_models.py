from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_session"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="allowed_models",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
