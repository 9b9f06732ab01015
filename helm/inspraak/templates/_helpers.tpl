{{/* Chart name. */}}
{{- define "inspraak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix of every resource. */}}
{{- define "inspraak.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's resources: (dict "root" $ "name" "identity"). */}}
{{- define "inspraak.serviceName" -}}
{{- printf "%s-%s" (include "inspraak.fullname" .root) .name -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "inspraak.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "inspraak.commonLabels" . }}
{{- end -}}

{{/* Labels of every resource but the instance (part of the selector labels). */}}
{{- define "inspraak.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: {{ include "inspraak.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service's pods: (dict "root" $ "name" "identity"). */}}
{{- define "inspraak.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inspraak.name" .root }}-{{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* All labels of one service's resources. */}}
{{- define "inspraak.serviceLabels" -}}
{{ include "inspraak.commonLabels" .root }}
{{ include "inspraak.selectorLabels" . }}
{{- end -}}

{{/* Image of one service: (dict "root" $ "name" "identity" "svc" $svc). */}}
{{- define "inspraak.image" -}}
{{- $repo := .svc.image.repository | default (printf "%s-%s" .root.Values.image.repository .name) -}}
{{- $tag := .svc.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* Name of the CloudNativePG Cluster of one service. */}}
{{- define "inspraak.cnpgCluster" -}}
{{- printf "%s-db" (include "inspraak.serviceName" .) -}}
{{- end -}}

{{/* Secret and key holding one service's DATABASE_URL. */}}
{{- define "inspraak.databaseSecret" -}}
{{- if .root.Values.postgresql.cnpg.enabled -}}
{{- printf "%s-app" (include "inspraak.cnpgCluster" .) -}}
{{- else -}}
{{- required (printf "services.%s.database.existingSecret is required (or postgresql.cnpg.enabled)" .name) .svc.database.existingSecret -}}
{{- end -}}
{{- end -}}
{{- define "inspraak.databaseKey" -}}
{{- if .root.Values.postgresql.cnpg.enabled -}}uri{{- else -}}{{ .svc.database.key }}{{- end -}}
{{- end -}}

{{/* Name of the RabbitmqCluster created by the chart. */}}
{{- define "inspraak.rabbitmqCluster" -}}
{{- printf "%s-rabbitmq" (include "inspraak.fullname" .) -}}
{{- end -}}

{{/* Secret with the RabbitMQ keys host, port, username, password. */}}
{{- define "inspraak.rabbitmqSecret" -}}
{{- if .Values.rabbitmq.operator.enabled -}}
{{- printf "%s-default-user" (include "inspraak.rabbitmqCluster" .) -}}
{{- else -}}
{{- required "rabbitmq.existingSecret is required (or rabbitmq.operator.enabled)" .Values.rabbitmq.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Restricted container securityContext. */}}
{{- define "inspraak.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod securityContext. */}}
{{- define "inspraak.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* DATABASE_URL env entry: (dict "root" $ "name" ... "svc" ...). */}}
{{- define "inspraak.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "inspraak.databaseSecret" . }}
      key: {{ include "inspraak.databaseKey" . }}
{{- end -}}
