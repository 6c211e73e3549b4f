# HDFS area: the real single-node HDFS, the lakehouse on hdfs://, the shared chart config.
TEST_TARGETS += test-hdfs

##@ HDFS

test-hdfs: venv ## HDFS alone, then feed → Kafka → Spark → Iceberg on hdfs:// → Trino/DuckDB, DataNode failure
	$(PYTEST) tests/system/hdfs

bench-hdfs: venv ## Lakehouse stream on hdfs:// vs file:// in the same run → bench/README.md
	$(PY) bench/stream_hdfs.py

.PHONY: test-hdfs bench-hdfs
