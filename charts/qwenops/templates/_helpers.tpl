{{/* The chart's name, or nameOverride: the objects' app.kubernetes.io/name. */}}
{{- define "qwenops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's objects: fullnameOverride, else "<release>" when it says the name already, else "<release>-<name>". */}}
{{- define "qwenops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "qwenops.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The operator's ServiceAccount: the one created (named, or the full name), or the existing one named. */}}
{{- define "qwenops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "qwenops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.create is false: set serviceAccount.name to the existing ServiceAccount the operator runs as" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped objects also carry the release namespace: two releases may share a name. */}}
{{- define "qwenops.clusterName" -}}
{{- printf "%s-%s" (include "qwenops.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "qwenops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/name: {{ include "qwenops.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{- define "qwenops.selector" -}}
app.kubernetes.io/name: {{ include "qwenops.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* kopf's liveness endpoint: `qwenops run --liveness` serves it, the probe reads it. */}}
{{- define "qwenops.healthPort" -}}8080{{- end -}}
{{- define "qwenops.healthPath" -}}/healthz{{- end -}}

{{/*
What the operator does in each namespace it watches, and nothing more (tests/chart/test_rbac.py
derives the same list from operator/qwenops/ and fails when they part):
  - kopf lists and watches QwenDeployments, Deployments (child-changed) and Pods (pod-changed);
    it patches QwenDeployments to keep its progress in annotations (and to remove the finalizer
    an earlier version of the operator put on them);
  - reconcile reads a QwenDeployment, writes its status subresource, lists its Deployments and
    Pods, creates, patches and deletes Deployments, reads, creates and patches Services, reads
    and patches the HTTPRoute a spec names; under trafficRouting.inferencePool it also lists,
    reads, creates, patches and deletes each revision's InferencePool, and deletes the Service
    of the endpoint picker it ran for a revision gone;
  - the children's ownerReferences set blockOwnerDeletion, which the OwnerReferencesPermission-
    Enforcement admission plugin (OpenShift's default) allows only to whoever may update the
    owner's finalizers subresource: update on qwendeployments/finalizers (no other write: it
    grants nothing patch on qwendeployments does not already);
  - kopf posts core/v1 Events about each QwenDeployment.
No Secrets: the model pods read the Hugging Face token Secret by secretKeyRef; the operator only
writes its name into the pod template. No other update (every write but the Lease's, rbac.yaml, is a patch), no
deletecollection.
*/}}
{{- define "qwenops.rules" -}}
- apiGroups: [qwenops.io]
  resources: [qwendeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [qwenops.io]
  resources: [qwendeployments/status]
  verbs: [patch]
- apiGroups: [qwenops.io]
  resources: [qwendeployments/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, patch]
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools]
  verbs: [get, list, create, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- with .Values.prometheus.secretNames }}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ toJson . }}
  verbs: [get]
{{- end }}
{{- end -}}

{{/*
Cluster-scoped reads kopf makes whatever it watches: it lists and watches CustomResourceDefinitions
to notice a CRD installed or upgraded while it runs, and, when it watches some namespaces only,
lists and watches Namespaces to follow them. (Its API discovery, GET /api and /apis, is granted to
every authenticated user by Kubernetes' own system:discovery binding.)
*/}}
{{- define "qwenops.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.watchNamespaces }}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- end -}}

{{/*
extraEnv may not hide a variable the chart sets (a second entry of a name would win silently):
each is named with the value that sets it.
*/}}
{{- define "qwenops.checkExtraEnv" -}}
{{- $set := dict "QWENOPS_SERVING_IMAGE" "servingImage" "QWENOPS_PROMETHEUS_URL" "prometheusUrl" "QWENOPS_HF_ENDPOINT" "hfEndpoint" "QWENOPS_RESYNC_SECONDS" "resyncSeconds" "QWENOPS_PROMETHEUS_TIMEOUT_SECONDS" "prometheusTimeoutSeconds" "QWENOPS_METRICS_PORT" "metricsPort" "QWENOPS_LEASE_NAME" "(the chart: the release's name)" "POD_NAMESPACE" "(the chart: the downward API)" "POD_NAME" "(the chart: the downward API)" "QWENOPS_PROMETHEUS_TOKEN_FILE" "prometheus.auth" "QWENOPS_PROMETHEUS_CA_FILE" "prometheus.auth" "QWENOPS_PROMETHEUS_HEADERS_FILE" "prometheus.auth" "PYTHONUNBUFFERED" "(the chart: unbuffered logs)" "TMPDIR" "(the chart: the scratch volume)" -}}
{{- range .Values.extraEnv -}}
{{- if hasKey $set .name -}}
{{- fail (printf "extraEnv: %s is set by the chart from %s" .name (get $set .name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* An alert's labels: its severity, then prometheusRule.alertLabels (which may replace it). Takes (list $ severity). */}}
{{- define "qwenops.alertLabels" -}}
{{- $root := index . 0 -}}
{{- toYaml (merge (deepCopy $root.Values.prometheusRule.alertLabels) (dict "severity" (index . 1))) -}}
{{- end -}}

{{/* The keys of prometheus.auth.existingSecret the operator reads, each with its variable: (list key env). */}}
{{- define "qwenops.authFiles" -}}
{{- $auth := .Values.prometheus.auth -}}
{{- $files := list -}}
{{- range $pair := list (list $auth.tokenKey "QWENOPS_PROMETHEUS_TOKEN_FILE") (list $auth.caKey "QWENOPS_PROMETHEUS_CA_FILE") (list $auth.headersKey "QWENOPS_PROMETHEUS_HEADERS_FILE") -}}
{{- if index $pair 0 }}{{ $files = append $files $pair }}{{ end -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}
