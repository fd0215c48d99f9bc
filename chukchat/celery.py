import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chukchat.settings")

app = Celery("chukchat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect(dispatch_uid="chukchat.metrics.celery_job")
def _count_job(task=None, state=None, **_kwargs) -> None:
    from chukchat import metrics

    metrics.celery_job(task=getattr(task, "name", "?"), outcome=state or "UNKNOWN")


# A job queued while serving a request logs under that request's id: the id travels in the
# task message's headers, and the worker takes it up for the job's run.
@before_task_publish.connect(dispatch_uid="chukchat.log_context.publish")
def _carry_request_id(headers=None, **_kwargs) -> None:
    from chukchat import log_context

    request_id = log_context.current_request_id()
    if request_id is not None and headers is not None:
        headers.setdefault("chuk_request_id", request_id)


@task_prerun.connect(dispatch_uid="chukchat.log_context.prerun")
def _enter_request(task=None, **_kwargs) -> None:
    from chukchat import log_context

    request = task.request
    # Eager (inline) jobs already run in the request's own context.
    request.chuk_log_token = log_context.enter_job(getattr(request, "chuk_request_id", None))


@task_postrun.connect(dispatch_uid="chukchat.log_context.postrun")
def _leave_request(task=None, **_kwargs) -> None:
    from chukchat import log_context

    log_context.leave_job(getattr(task.request, "chuk_log_token", None))
