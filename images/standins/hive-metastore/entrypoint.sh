#!/bin/bash
# apache/hive's SERVICE_NAME=metastore contract on Hive 2.3.10: config from HIVE_CUSTOM_CONF_DIR,
# SERVICE_OPTS after the default heap, the thrift port from METASTORE_PORT.
set -euo pipefail
[ "${SERVICE_NAME:-metastore}" = metastore ] || { echo "this stand-in runs only SERVICE_NAME=metastore" >&2; exit 2; }
[ "${DB_DRIVER:-postgres}" = postgres ] || { echo "this stand-in supports only DB_DRIVER=postgres" >&2; exit 2; }
conf=${HIVE_CUSTOM_CONF_DIR:?}
# shellcheck disable=SC2086  # SERVICE_OPTS is a word list, as in apache/hive's entrypoint
exec "$JAVA_HOME/bin/java" -Xmx1G ${SERVICE_OPTS:-} -XX:+UseSerialGC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/hive/standin/log4j2.properties \
  -Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.ClassLoaderContextSelector \
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED \
  --add-opens=java.base/java.util=ALL-UNNAMED \
  -cp "$conf:/opt/hive/standin:/opt/hive/lib/*:$SPARK_HOME/jars/*" \
  StandinMetastore "$conf/hive-site.xml" "${METASTORE_PORT:-9083}"
