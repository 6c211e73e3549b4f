# HDFS area: the real single-node HDFS, the lakehouse on hdfs://, the shared chart config.
TEST_TARGETS += test-hdfs

HDFS_CHART_CONFIG := charts/coinstream/files/hdfs-site.yaml

test-hdfs: venv ## HDFS alone, then feed → Kafka → Spark → Iceberg on hdfs:// → Trino/DuckDB, DataNode failure
	$(PYTEST) tests/system/hdfs

hdfs-config: venv ## Regenerate the chart's HDFS config from coinstream.platform.hdfs_config
	$(PY) -m coinstream.platform.hdfs_config $(HDFS_CHART_CONFIG)

bench-hdfs: venv ## Lakehouse stream on hdfs:// vs file:// in the same run → bench/README.md
	$(PY) bench/stream_hdfs.py

.PHONY: test-hdfs hdfs-config bench-hdfs
