"""Kafka → Iceberg: the streaming job, table maintenance and the local demo glue.

Spark is imported lazily everywhere, so the SQL layer and the CLI load without a JVM.
"""
