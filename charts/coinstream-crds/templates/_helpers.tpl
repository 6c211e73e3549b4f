{{/* Chart name, trimmed to the 63 characters a label value allows. */}}
{{- define "coinstream-crds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "coinstream-crds.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels every object of this chart carries. */}}
{{- define "coinstream-crds.labels" -}}
helm.sh/chart: {{ include "coinstream-crds.chart" . }}
app.kubernetes.io/name: {{ include "coinstream-crds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: coinstream
{{- end -}}

{{- define "coinstream-crds.image" -}}
{{- $img := .image -}}
{{- if $img.digest -}}
{{- printf "%s:%s@%s" $img.repository $img.tag $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end -}}
{{- end -}}
