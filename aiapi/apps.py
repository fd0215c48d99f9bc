from django.apps import AppConfig


class AiApiConfig(AppConfig):
    name = "aiapi"
    verbose_name = "AI gateway"
    default_auto_field = "django.db.models.BigAutoField"
