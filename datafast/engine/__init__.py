"""How requests run: work items, the concurrent scheduler, retries. Knows nothing of dataset types."""

from datafast.engine.backends import RayBackend
from datafast.engine.batches import BatchOptions
from datafast.engine.ledger import ProviderStats, RunStats
from datafast.engine.retry import RetryPolicy
from datafast.engine.runner import RunObserver, Scheduler, Stream
from datafast.engine.store import RunStore
from datafast.engine.work import WorkItem, record_uuid, work_key

__all__ = [
    "BatchOptions",
    "ProviderStats",
    "RayBackend",
    "RetryPolicy",
    "RunObserver",
    "RunStats",
    "RunStore",
    "Scheduler",
    "Stream",
    "WorkItem",
    "record_uuid",
    "work_key",
]
