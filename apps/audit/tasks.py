from celery import shared_task

from apps.audit.services import access_log_flush


@shared_task(name="agency.audit.flush_access_log", queue="default", acks_late=True, soft_time_limit=120,
             time_limit=180)
def access_log_flush_task() -> int:
    return access_log_flush()

