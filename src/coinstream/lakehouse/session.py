"""One SparkSession recipe for the job, maintenance, tests and the benchmark.

The Iceberg catalog is a HiveCatalog on the metastore URI with the warehouse URI;
Hadoop settings are passed as spark.hadoop.* so the same code serves file:// and
hdfs://. Jars are explicit paths, so Spark never reaches for a network at start.
"""

from __future__ import annotations

from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.platform.hdfs_config import HDFS_CLIENT_SITE


def spark_conf(cfg: LakeConfig) -> dict[str, str]:
    """Every setting the session gets; a pure function so tests can read it without a JVM."""
    cat = f"spark.sql.catalog.{cfg.catalog}"
    conf = {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        cat: "org.apache.iceberg.spark.SparkCatalog",
        f"{cat}.type": "hive",
        f"{cat}.uri": cfg.metastore_uri,
        f"{cat}.warehouse": cfg.warehouse,
        # Each commit must see the newest snapshot (another engine may have written).
        f"{cat}.cache-enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        # Iceberg asks HDFS for block locations to give read tasks preferred hosts. Executors
        # never run beside the DataNodes here (local mode, or pods), and in local mode such
        # tasks were never scheduled: expire_snapshots hung forever on an hdfs:// warehouse.
        "spark.sql.iceberg.locality.enabled": "false",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": cfg.driver_memory,
        # C1 only starts short jobs sooner; C2 roughly halves the warm stream's per-row cost.
        "spark.driver.extraJavaOptions": (
            f"-XX:+UseG1GC {'-XX:TieredStopAtLevel=1 ' if cfg.jvm_profile == 'fast-start' else ''}"
            "-Dderby.system.home=/tmp"
        ),
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.hadoop.hive.metastore.uris": cfg.metastore_uri,
        "spark.sql.catalogImplementation": "in-memory",
    }
    if cfg.master:
        conf["spark.master"] = cfg.master
    if (cfg.master or "").startswith("local"):
        # On a laptop the driver's block manager and RPC ports stay on loopback.
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    jars = cfg.jars
    if jars is None and (cfg.master or "").startswith("local"):
        # Locally: resolve once into the cache. In the cluster (no master set here) the
        # SparkApplication's image/deps provide the same jars; nothing is fetched at start.
        from coinstream.lakehouse.jars import lakehouse_jars

        jars = lakehouse_jars()
    if jars:
        conf["spark.jars"] = ",".join(jars)
    # The HDFS client settings every deployment shares (inert on file://): in the cluster the
    # SparkApplication mounts no Hadoop config, so the session is where they reach the job.
    conf.update({f"spark.hadoop.{k}": v for k, v in {**HDFS_CLIENT_SITE, **cfg.hadoop_conf}.items()})
    conf.update(cfg.spark_conf)
    return conf


def get_spark(cfg: LakeConfig, app_name: str = "coinstream-lakehouse") -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(cfg).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
