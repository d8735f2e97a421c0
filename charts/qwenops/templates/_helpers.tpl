{{/* The release's objects: "<release>" when it says qwenops already, else "<release>-qwenops". */}}
{{- define "qwenops.fullname" -}}
{{- if contains "qwenops" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-qwenops" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped objects also carry the release namespace: two releases may share a name. */}}
{{- define "qwenops.clusterName" -}}
{{- printf "%s-%s" (include "qwenops.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "qwenops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/name: qwenops
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{- define "qwenops.selector" -}}
app.kubernetes.io/name: qwenops
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
    and patches the HTTPRoute a spec names;
  - the children's ownerReferences set blockOwnerDeletion, which the OwnerReferencesPermission-
    Enforcement admission plugin (OpenShift's default) allows only to whoever may update the
    owner's finalizers subresource: update on qwendeployments/finalizers (no other write: it
    grants nothing patch on qwendeployments does not already);
  - kopf posts core/v1 Events about each QwenDeployment.
No Secrets: the model pods read the Hugging Face token Secret by secretKeyRef; the operator only
writes its name into the pod template. No other update (every write is a patch), no
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
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
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
