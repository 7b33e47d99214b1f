"""How requests run: work items, the concurrent scheduler, retries. Knows nothing of dataset types."""

from datafast.engine.retry import RetryPolicy
from datafast.engine.runner import RunObserver, RunStats, run_work
from datafast.engine.work import WorkItem, record_uuid, work_key

__all__ = ["RetryPolicy", "RunObserver", "RunStats", "WorkItem", "record_uuid", "run_work", "work_key"]
