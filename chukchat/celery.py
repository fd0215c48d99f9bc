import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chukchat.settings")

app = Celery("chukchat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
