"""Use cases that span areas: the embedded demo (local stack, backfill, live feed, lakehouse, report)."""
