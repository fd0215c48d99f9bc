from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing and importing chats"
    default_auto_field = "django.db.models.BigAutoField"
