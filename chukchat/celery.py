import os

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chukchat.settings")

app = Celery("chukchat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect(dispatch_uid="chukchat.metrics.celery_job")
def _count_job(task=None, state=None, **_kwargs) -> None:
    from chukchat import metrics

    metrics.celery_job(task=getattr(task, "name", "?"), outcome=state or "UNKNOWN")
