from django.apps import AppConfig


class MediaToolsConfig(AppConfig):
    name = "media_tools"
    verbose_name = "Media tools"
    default_auto_field = "django.db.models.BigAutoField"
