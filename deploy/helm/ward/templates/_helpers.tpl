{{/*
Names. "ward.name" is the chart name (or nameOverride); "ward.fullname" is the
release's prefix: the release name when it contains the chart name (release
"ward" gives ward-nurse, ward-lookup, ward-e2e), else <release>-<name>.
*/}}
{{- define "ward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "ward.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ward.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Per-component helpers take a dict: (dict "root" $ "component" "nurse").
*/}}

{{/*
Object name of a component: <fullname>-<component>, or <fullname>-<name>
when the dict has a `name` (a component whose values key is camelCase).
*/}}
{{- define "ward.componentName" -}}
{{- printf "%s-%s" (include "ward.fullname" .root) (.name | default .component) -}}
{{- end -}}

{{/* Namespace of a component: its `namespace` value, else the release namespace. */}}
{{- define "ward.namespace" -}}
{{- $values := index .root.Values .component -}}
{{- default .root.Release.Namespace $values.namespace -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release (never add to these).
`as` names a workload of a component that has its own selector (e2e-serve,
e2e-sweep); it defaults to the component.
*/}}
{{- define "ward.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-%s" (include "ward.name" .root) (.as | default .component) }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Labels of every object of a component. */}}
{{- define "ward.labels" -}}
{{ include "ward.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: ward
app.kubernetes.io/version: {{ include "ward.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "ward.chart" .root }}
{{- end -}}

{{/* Labels of a component's pods: selector labels, component, podLabels. */}}
{{- define "ward.podLabels" -}}
{{ include "ward.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
{{- with (index .root.Values .component).podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image tag of a component: its own, else image.tag, else the chart's appVersion. */}}
{{- define "ward.imageTag" -}}
{{- $own := (index .root.Values .component).image | default dict -}}
{{- $own.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- end -}}

{{/* Image reference of a component. */}}
{{- define "ward.image" -}}
{{- $own := (index .root.Values .component).image | default dict -}}
{{- $repository := $own.repository | default .root.Values.image.repository -}}
{{- if not $repository -}}
{{- fail (printf "%s.image.repository and image.repository are both empty: set image.repository to where you pushed or loaded the ward image (see scripts/build-image.sh)" .component) -}}
{{- end -}}
{{- $digest := $own.digest | default .root.Values.image.digest -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (include "ward.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* Pull policy of a component. */}}
{{- define "ward.imagePullPolicy" -}}
{{- $own := (index .root.Values .component).image | default dict -}}
{{- $own.pullPolicy | default .root.Values.image.pullPolicy -}}
{{- end -}}

{{/* The pod's imagePullSecrets (image.pullSecrets), or nothing. */}}
{{- define "ward.pullSecrets" -}}
{{- with .root.Values.image.pullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* ServiceAccount name of a component. */}}
{{- define "ward.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "ward.componentName" .) $sa.name -}}
{{- else -}}
{{- required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" .component .component) $sa.name -}}
{{- end -}}
{{- end -}}

{{/*
Fails unless the cluster serves the Prometheus Operator CRD a template needs:
(dict "root" $ "value" "nurse.serviceMonitor.enabled" "kind" "ServiceMonitor").
`helm template` knows no cluster: pass --api-versions monitoring.coreos.com/v1/<kind>.
*/}}
{{- define "ward.requireCRD" -}}
{{- if not (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind)) -}}
{{- fail (printf "%s is true but the cluster has no monitoring.coreos.com/v1 %s CRD; install the Prometheus Operator CRDs or set %s=false (helm template: add --api-versions monitoring.coreos.com/v1/%s)" .value .kind .value .kind) -}}
{{- end -}}
{{- end -}}


{{/*
The URL of the nurse's me_ingress check: nurse.ingress.url when set, else
https://<host> (TLS configured) or http://<host> when the chart renders the
Ingress with a host; empty otherwise, and then the check is off.
*/}}
{{- define "ward.nurse.ingressUrl" -}}
{{- $ingress := .Values.nurse.ingress -}}
{{- if $ingress.url -}}
{{- $ingress.url | trimSuffix "/" -}}
{{- else if and $ingress.enabled $ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" $ingress.tls.enabled) $ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
The suite's environment, shared by the CronJob (`ward e2e run`) and the serve
Deployment: the Lease identity and namespace from the downward API, the
images every test pod uses, timeouts, storage class, OTLP.
*/}}
{{- define "ward.e2e.env" -}}
{{- $v := .Values.e2e -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: WARD_E2E_LEASE_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with $v.only }}
- name: WARD_E2E_ONLY
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.skip }}
- name: WARD_E2E_SKIP
  value: {{ join "," . | quote }}
{{- end }}
# Every image a test pod runs: point them at a mirror in air-gapped clusters.
- name: WARD_E2E_IMAGE
  value: {{ $v.images.workload | quote }}
- name: WARD_E2E_IMAGE_ARGS
  value: {{ join "," $v.images.workloadArgs | quote }}
{{- with $v.images.update }}
- name: WARD_E2E_UPDATE_IMAGE
  value: {{ . | quote }}
{{- end }}
- name: WARD_E2E_SHELL_IMAGE
  value: {{ $v.images.shell | quote }}
{{- with $v.images.pullPolicy }}
- name: WARD_E2E_IMAGE_PULL_POLICY
  value: {{ . | quote }}
{{- end }}
{{- with $v.testPods.nodeSelector }}
- name: WARD_E2E_NODE_SELECTOR
  value: {{ include "ward.e2e.keyValues" . | quote }}
{{- end }}
{{- with $v.storageClass }}
- name: WARD_E2E_STORAGE_CLASS
  value: {{ . | quote }}
{{- end }}
- name: WARD_E2E_CLUSTER_DOMAIN
  value: {{ .Values.clusterDomain | quote }}
{{- range $key, $env := dict "request" "WARD_E2E_REQUEST_TIMEOUT" "rollout" "WARD_E2E_ROLLOUT_TIMEOUT" "bind" "WARD_E2E_BIND_TIMEOUT" "job" "WARD_E2E_JOB_TIMEOUT" "network" "WARD_E2E_NETWORK_TIMEOUT" "test" "WARD_E2E_TEST_TIMEOUT" "cleanup" "WARD_E2E_CLEANUP_TIMEOUT" }}
{{- with index $v.timeouts $key }}
- name: {{ $env }}
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $v.ttl }}
- name: WARD_E2E_TTL
  value: {{ . | quote }}
{{- end }}
{{- with $v.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
- name: OTEL_SERVICE_NAME
  value: {{ $v.otlp.serviceName | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* k=v,k2=v2 of a map, sorted by key. */}}
{{- define "ward.e2e.keyValues" -}}
{{- $pairs := list -}}
{{- range $k, $val := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $val) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The runbook of an alert: its section in docs/runbooks.md ("WardNursePathFailing"). */}}
{{- define "ward.runbookUrl" -}}
{{- printf "https://github.com/ward-dev/ward/blob/main/docs/runbooks.md#%s" (lower .) -}}
{{- end -}}
