from celery import shared_task

from accounts.data_exports import data_export_build, data_exports_expire


@shared_task
def data_export_build_task(export_id: int) -> None:
    data_export_build(export_id=export_id)


@shared_task
def data_exports_expire_task() -> int:
    return data_exports_expire()
