{{/*
Names. The driver name is fixed: it is compiled into the binary and recorded in every PersistentVolume.
*/}}
{{- define "cassfs.driverName" -}}csi.cassfs.io{{- end -}}

{{- define "cassfs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cassfs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cassfs.controllerName" -}}{{ include "cassfs.fullname" . | trunc 52 | trimSuffix "-" }}-controller{{- end -}}
{{- define "cassfs.nodeName" -}}{{ include "cassfs.fullname" . | trunc 57 | trimSuffix "-" }}-node{{- end -}}

{{- define "cassfs.controllerServiceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cassfs.controllerName" .) .Values.serviceAccount.controllerName -}}
{{- else -}}
{{- required "serviceAccount.controllerName is required when serviceAccount.create is false" .Values.serviceAccount.controllerName -}}
{{- end -}}
{{- end -}}

{{- define "cassfs.nodeServiceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cassfs.nodeName" .) .Values.serviceAccount.nodeName -}}
{{- else -}}
{{- required "serviceAccount.nodeName is required when serviceAccount.create is false" .Values.serviceAccount.nodeName -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; selector labels are the stable subset. */}}
{{- define "cassfs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "cassfs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cassfs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cassfs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cassfs.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/*
Connection flags shared by the controller and the node plugin: Cassandra (credentials, TLS files) and ZooKeeper.
Secrets are mounted as files (see cassfs.connectionVolumes); no secret value is ever put on a command line.
*/}}
{{- define "cassfs.connectionArgs" -}}
- --cassandra={{ join "," .Values.cassandra.hosts }}
- --cassandra-port={{ .Values.cassandra.port }}
{{- with .Values.cassandra.localDC }}
- --cassandra-local-dc={{ . }}
{{- end }}
{{- with .Values.cassandra.username }}
- --cassandra-username={{ . }}
{{- end }}
{{- if .Values.cassandra.passwordSecret.name }}
- --cassandra-password-file=/etc/cassfs/cassandra-password/{{ .Values.cassandra.passwordSecret.passwordKey }}
{{- end }}
{{- with .Values.cassandra.tls }}
{{- if .enabled }}
{{- if .caKey }}
- --cassandra-ca-file=/etc/cassfs/cassandra-tls/{{ .caKey }}
{{- end }}
{{- if .certKey }}
- --cassandra-cert-file=/etc/cassfs/cassandra-tls/{{ .certKey }}
- --cassandra-key-file=/etc/cassfs/cassandra-tls/{{ .keyKey }}
{{- end }}
{{- if .insecureSkipVerify }}
- --cassandra-tls-insecure-skip-verify
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.zookeeper.servers }}
- --zookeeper={{ join "," . }}
- --zookeeper-chroot={{ $.Values.zookeeper.chroot }}
{{- end }}
{{- end -}}

{{- define "cassfs.connectionVolumeMounts" -}}
{{- if .Values.cassandra.passwordSecret.name }}
- name: cassandra-password
  mountPath: /etc/cassfs/cassandra-password
  readOnly: true
{{- end }}
{{- if .Values.cassandra.tls.enabled }}
- name: cassandra-tls
  mountPath: /etc/cassfs/cassandra-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cassfs.connectionVolumes" -}}
{{- if .Values.cassandra.passwordSecret.name }}
- name: cassandra-password
  secret:
    secretName: {{ .Values.cassandra.passwordSecret.name }}
    defaultMode: 0400
{{- end }}
{{- if .Values.cassandra.tls.enabled }}
- name: cassandra-tls
  secret:
    secretName: {{ .Values.cassandra.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{/* The livenessprobe sidecar, shared by the controller and the node plugin. */}}
{{- define "cassfs.livenessProbeSidecar" -}}
- name: liveness-probe
  image: {{ .root.Values.sidecars.livenessProbe.image }}
  imagePullPolicy: {{ .root.Values.sidecars.pullPolicy }}
  args:
    - --csi-address=/csi/csi.sock
    - --health-port={{ .port }}
    - --probe-timeout=3s
  volumeMounts:
    - name: socket-dir
      mountPath: /csi
  resources:
    {{- toYaml .root.Values.sidecars.livenessProbe.resources | nindent 4 }}
  securityContext:
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
{{- end -}}
