"""Writes of analytics: event ingestion, served lists, rollups."""

from analytics.services.ingestion import (
    MAX_BATCH_SIZE,
    IngestResult,
    do_ingest_events,
    record_served_lists,
)

__all__ = ["MAX_BATCH_SIZE", "IngestResult", "do_ingest_events", "record_served_lists"]
