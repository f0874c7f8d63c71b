"""Running queued tasks inside a test, the way a worker would, but in this process and inside the
test's transaction (a real worker process cannot see a test's uncommitted rows)."""

from __future__ import annotations

from django_tasks import TaskContext
from django_tasks_db.models import DBTaskResult


def drain(limit: int = 1000) -> int:
    """Run every queued task (and any they queue), oldest first; returns how many ran."""
    ran = 0
    while ran < limit:
        result = DBTaskResult.objects.ready().order_by("enqueued_at").first()
        if result is None:
            return ran
        result.claim("test")
        task_result, task = result.task_result, result.task
        context = [TaskContext(task_result=task_result)] if task.takes_context else []  # as run_task
        task.call(*context, *task_result.args, **task_result.kwargs)
        result.set_successful(None)
        ran += 1
    raise AssertionError(f"more than {limit} tasks were queued")
