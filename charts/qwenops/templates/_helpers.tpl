{{- define "qwenops.name" -}}qwenops{{- end -}}
{{- define "qwenops.labels" -}}
app.kubernetes.io/name: qwenops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "qwenops.selector" -}}
app.kubernetes.io/name: qwenops
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "qwenops.rules" -}}
- apiGroups: [qwenops.io]
  resources: [qwendeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [qwenops.io]
  resources: [qwendeployments/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
# read-only: where each serving pod is (downloading, verifying, loading, ready, failed)
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}
