"""Celery tasks: webhook ingestion."""

from app.ingest import ingestion as ingest
from tasks.celery_app import app


@app.task(name="sendwise.ingest.batch", acks_late=True, ignore_result=True,
          autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=10)
def ingest_batch(inbox_id: int) -> dict:
    """Ingest one stored webhook batch (idempotent)."""
    return ingest.process_inbox(inbox_id)


@app.task(name="sendwise.ingest.sweep", acks_late=True, ignore_result=True)
def sweep_inbox() -> int:
    """Ingest batches whose task never ran (broker down when they arrived, or a lost message)."""
    ids = ingest.pending_inbox_ids()
    for inbox_id in ids:
        ingest.process_inbox(inbox_id)
    return len(ids)
