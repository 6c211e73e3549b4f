"""The embedded platform's services on loopback: Kafka, Hive metastore, Trino, HDFS (pinned jars)."""
