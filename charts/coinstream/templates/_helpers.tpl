{{/* Chart name, trimmed to the 63 characters a label value allows. */}}
{{- define "coinstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "coinstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "coinstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; pass (dict "ctx" $ "component" "x"). */}}
{{- define "coinstream.labels" -}}
helm.sh/chart: {{ include "coinstream.chart" .ctx }}
{{ include "coinstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: coinstream
{{- end -}}

{{- define "coinstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coinstream.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* repository:tag[@digest] */}}
{{- define "coinstream.image" -}}
{{- if .digest -}}
{{- printf "%s:%s@%s" .repository (toString .tag) .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext that the `restricted` Pod Security Standard admits. */}}
{{- define "coinstream.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "coinstream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
runAsNonRoot: true
{{- if .readOnlyRootFilesystem }}
readOnlyRootFilesystem: true
{{- end }}
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "coinstream.kafkaCluster" -}}
{{- default (include "coinstream.fullname" .) .Values.kafka.clusterName -}}
{{- end -}}

{{- define "coinstream.namenodeHost" -}}
{{- printf "%s-hdfs-namenode" (include "coinstream.fullname" .) -}}
{{- end -}}

{{/* fs.defaultFS: hdfs://<namenode service>:<rpc port> */}}
{{- define "coinstream.defaultFS" -}}
{{- printf "hdfs://%s:%d" (include "coinstream.namenodeHost" .) (int .Values.hdfs.namenode.rpcPort) -}}
{{- end -}}

{{- define "coinstream.metastoreUri" -}}
{{- printf "thrift://%s-metastore:%d" (include "coinstream.fullname" .) (int .Values.metastore.port) -}}
{{- end -}}

{{/* Hadoop *-site.xml body from a flat map of properties. */}}
{{- define "coinstream.hadoopXml" -}}
<?xml version="1.0" encoding="UTF-8"?>
<configuration>
{{- range $k, $v := . }}
  <property><name>{{ $k }}</name><value>{{ $v }}</value></property>
{{- end }}
</configuration>
{{- end -}}

{{/* Environment of a Hadoop container; pass (dict "opts" "HDFS_NAMENODE_OPTS" "heap" "512m"). */}}
{{- define "coinstream.hadoopEnv" -}}
- {name: HADOOP_CONF_DIR, value: /etc/hadoop/conf}
- {name: HADOOP_LOG_DIR, value: /tmp/hadoop-logs}
{{- if .opts }}
- {name: {{ .opts }}, value: "-Xmx{{ .heap }}"}
{{- end }}
{{- end -}}

{{/* A DNS-label name (<= 63 chars): long ones keep a unique hash suffix. */}}
{{- define "coinstream.shortName" -}}
{{- if le (len .) 63 -}}
{{- . -}}
{{- else -}}
{{- printf "%s-%s" (trunc 54 . | trimSuffix "-") (sha256sum . | trunc 8) -}}
{{- end -}}
{{- end -}}

{{/* How a coinstream pod reaches Trino as the read-only `analyst` (coinstream.settings reads these):
https on 8443, the password as a mounted Secret file, the release's CA from its ConfigMap. */}}
{{- define "coinstream.trinoClientEnv" -}}
- {name: COINSTREAM_TRINO_HOST, value: {{ printf "%s-trino" .Release.Name | quote }}}
- {name: COINSTREAM_TRINO_PORT, value: "8443"}
- {name: COINSTREAM_TRINO_USER, value: analyst}
- {name: COINSTREAM_TRINO_CATALOG, value: lake}
- {name: COINSTREAM_TRINO_PASSWORD_FILE, value: /var/run/secrets/coinstream/trino/analyst}
- {name: COINSTREAM_TRINO_CA_FILE, value: /var/run/secrets/coinstream/trino-ca/ca.crt}
{{- end -}}

{{- define "coinstream.trinoClientVolumeMounts" -}}
- {name: trino-analyst, mountPath: /var/run/secrets/coinstream/trino, readOnly: true}
- {name: trino-ca, mountPath: /var/run/secrets/coinstream/trino-ca, readOnly: true}
{{- end -}}

{{- define "coinstream.trinoClientVolumes" -}}
- name: trino-analyst
  secret:
    secretName: {{ include "coinstream.fullname" . }}-trino-users
    items: [{key: analyst, path: analyst}]
- name: trino-ca
  configMap:
    name: {{ include "coinstream.fullname" . }}-trino-ca
{{- end -}}
