#!/bin/bash
# The contract Spark on Kubernetes expects of an image's entrypoint: `driver ARGS` runs
# spark-submit in client mode inside the driver pod, `executor` starts the executor backend from
# the SPARK_* variables the driver sets on executor pods; anything else runs as given. Written for
# this image (Spark from the pinned pyspark wheel), not copied from apache/spark's images.
set -euo pipefail
: "${SPARK_HOME:?}"
classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_HOME/jars/*${SPARK_EXTRA_CLASSPATH:+:$SPARK_EXTRA_CLASSPATH}"
[ -n "${HADOOP_CONF_DIR:-}" ] && classpath="$HADOOP_CONF_DIR:$classpath"
case "${1:-}" in
  driver)
    shift
    exec /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?}" --deploy-mode client "$@"
    ;;
  executor)
    shift
    # SPARK_JAVA_OPT_0..N, in order.
    mapfile -t opts < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^[^=]*=//')
    exec /usr/bin/tini -s -- "$JAVA_HOME/bin/java" "${opts[@]}" \
      "-Xms${SPARK_EXECUTOR_MEMORY:?}" "-Xmx$SPARK_EXECUTOR_MEMORY" -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL:?}" --executor-id "${SPARK_EXECUTOR_ID:?}" \
      --cores "${SPARK_EXECUTOR_CORES:?}" --app-id "${SPARK_APPLICATION_ID:?}" \
      --hostname "${SPARK_EXECUTOR_POD_IP:?}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:?}"
    ;;
  *)
    exec /usr/bin/tini -s -- "$@"
    ;;
esac
