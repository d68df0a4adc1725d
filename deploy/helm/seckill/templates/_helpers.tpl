{{/* The chart's name, at most 63 characters. */}}
{{- define "seckill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, the prefix of every object's name. */}}
{{- define "seckill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "seckill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "seckill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "api"). */}}
{{- define "seckill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seckill.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "seckill.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) }}
{{- end }}

{{- define "seckill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "seckill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret the binaries read their secrets from: the user's, or the one
the chart makes from values. Without secrets.existingSecret, every secret
value is required, so rendering fails rather than deploy a default.
*/}}
{{- define "seckill.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "seckill.fullname" . }}
{{- end }}
{{- end }}

{{/* A secret value from values: required, and at least min bytes. */}}
{{- define "seckill.requiredSecret" -}}
{{- $v := required (printf "secrets.%s is required (%s), or name a Secret holding it in secrets.existingSecret" .name .hint) .value -}}
{{- if lt (len $v) (int .min) }}
{{- fail (printf "secrets.%s has %d bytes; it needs at least %d (openssl rand -hex 32)" .name (len $v) (int .min)) }}
{{- end }}
{{- $v }}
{{- end }}

{{/*
One env entry reading a key of the Secret: include with
(dict "ctx" $ "key" "SECKILL_JWT_SECRET").
*/}}
{{- define "seckill.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "seckill.secretName" .ctx }}
      key: {{ .key }}
{{- end }}

{{/*
Extra non-secret variables for a ConfigMap; a name that looks like it
carries a secret is refused.
*/}}
{{- define "seckill.extraConfig" -}}
{{- range $k, $v := . }}
{{- if regexMatch "(SECRET|TOKEN|PASSWORD|PASS|DSN|AMQP_URL|REDIS_URL)" (upper $k) }}
{{- fail (printf "config.*Extra.%s: a secret does not belong in a ConfigMap; put it in the Secret" $k) }}
{{- end }}
{{ $k }}: {{ toString $v | quote }}
{{- end }}
{{- end }}
