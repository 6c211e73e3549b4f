# Lakehouse area: Kafka -> Spark Structured Streaming -> Iceberg (Hive metastore) -> Trino / DuckDB.
TEST_TARGETS += test-lakehouse

##@ Lakehouse

test-lakehouse: venv ## Lakehouse on real Kafka, Spark, Hive metastore and Trino (+ notebook)
	$(PYTEST) tests/system/lakehouse

bench-stream: venv ## Kafka -> Iceberg rows/s and freshness vs the original project's sink; writes bench/README.md
	$(PY) bench/stream.py

bench-queries: venv ## Investor queries on a >= 10 M-quote table, DuckDB vs Trino; writes bench/README.md
	$(PY) bench/queries.py

.PHONY: test-lakehouse bench-stream bench-queries
