{{/* Names */}}
{{- define "openiothub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "openiothub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "openiothub.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "openiothub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openiothub
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "name" "gateway") */}}
{{- define "openiothub.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "openiothub.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* gRPC ports of the back-end services (each service's GRPC_PORT default) */}}
{{- define "openiothub.grpcPort" -}}
{{- get (dict "registry" 50051 "twin" 50052 "messaging" 50053 "routing" 50054 "jobs" 50055 "streams" 50056 "provisioning" 50057) . -}}
{{- end -}}

{{/* dns:/// over a headless Service: the clients spread calls over every pod (round robin), not one connection */}}
{{- define "openiothub.grpcUrl" -}}
dns:///{{ include "openiothub.fullname" .root }}-{{ .name }}:{{ include "openiothub.grpcPort" .name }}
{{- end -}}

{{- define "openiothub.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "openiothub.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "openiothub.secretName" -}}
{{- default (printf "%s-backing" (include "openiothub.fullname" .)) .Values.external.existingSecret -}}
{{- end -}}

{{/* Backing service URLs: the in-cluster evaluation ones when enabled, else the external ones */}}
{{- define "openiothub.postgresUrl" -}}
{{- if .Values.evaluation.postgresql.enabled -}}postgres://postgres@{{ include "openiothub.fullname" . }}-postgresql:5432/openiothub{{- else -}}{{ .Values.external.postgresUrl }}{{- end -}}
{{- end -}}
{{- define "openiothub.natsUrl" -}}
{{- if .Values.evaluation.nats.enabled -}}nats://{{ include "openiothub.fullname" . }}-nats:4222{{- else -}}{{ required "external.natsUrl is required unless evaluation.nats.enabled" .Values.external.natsUrl }}{{- end -}}
{{- end -}}
{{- define "openiothub.redisUrl" -}}
{{- if .Values.evaluation.redis.enabled -}}redis://{{ include "openiothub.fullname" . }}-redis:6379{{- else -}}{{ .Values.external.redisUrl }}{{- end -}}
{{- end -}}
{{- define "openiothub.blobConnectionString" -}}
{{- if .Values.evaluation.azurite.enabled -}}DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://{{ include "openiothub.fullname" . }}-azurite:10000/devstoreaccount1;{{- else -}}{{ .Values.external.blobConnectionString }}{{- end -}}
{{- end -}}

{{- define "openiothub.streamsPublicUrl" -}}
{{- default (printf "wss://streams.%s:8446" .Values.hubDomain) .Values.services.streams.publicUrl -}}
{{- end -}}

{{/* Pod template checksum: pods restart when the configuration they read changes */}}
{{- define "openiothub.configChecksum" -}}
{{- print (include (print .Template.BasePath "/config/configmap.yaml") .) (include (print .Template.BasePath "/config/secret.yaml") .) | sha256sum -}}
{{- end -}}

{{/*
One service's workload: (dict "root" $ "name" "registry" "kind" "Deployment" "ports" (list (dict "name" "grpc" "containerPort" 50051)) "env" (list …) "tls" bool)
Probes on the admin port (9464): /livez (the process) and /readyz (ready to take work).
*/}}
{{- define "openiothub.workload" -}}
{{- $root := .root -}}
{{- $svc := index $root.Values.services .name -}}
{{- $kind := default "Deployment" .kind -}}
apiVersion: apps/v1
kind: {{ $kind }}
metadata:
  name: {{ include "openiothub.fullname" $root }}-{{ .name }}
  labels:
    {{- include "openiothub.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  {{- if eq $kind "StatefulSet" }}
  serviceName: {{ include "openiothub.fullname" $root }}-{{ .name }}-pods
  podManagementPolicy: Parallel
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }
  {{- end }}
  selector:
    matchLabels:
      {{- include "openiothub.selectorLabels" (dict "root" $root "name" .name) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "openiothub.selectorLabels" (dict "root" $root "name" .name) | nindent 8 }}
      annotations:
        checksum/config: {{ include "openiothub.configChecksum" $root | quote }}
        prometheus.io/scrape: "true"
        prometheus.io/port: "9464"
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "openiothub.serviceAccountName" $root }}
      automountServiceAccountToken: false
      # above SHUTDOWN_TIMEOUT_MS + SHUTDOWN_DELAY_MS, so Kubernetes never kills a clean shutdown
      terminationGracePeriodSeconds: {{ add (div (add $root.Values.shutdownTimeoutMs $root.Values.shutdownDelayMs) 1000) 10 }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        fsGroup: 1000
        seccompProfile: { type: RuntimeDefault }
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "openiothub.selectorLabels" (dict "root" $root "name" .name) | nindent 14 }}
      containers:
        - name: {{ .name }}
          image: {{ include "openiothub.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["services/{{ .name }}/dist/main.js"]
          envFrom:
            - configMapRef:
                name: {{ include "openiothub.fullname" $root }}-config
            - secretRef:
                name: {{ include "openiothub.secretName" $root }}
          env:
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- range $k, $v := $svc.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          ports:
            - name: admin
              containerPort: 9464
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .containerPort }}
            {{- end }}
          startupProbe:
            httpGet: { path: /livez, port: admin }
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: { path: /livez, port: admin }
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            httpGet: { path: /readyz, port: admin }
            periodSeconds: 5
            failureThreshold: 2
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .tls }}
            - name: tls
              mountPath: /etc/openiothub/tls
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- if .tls }}
        - name: tls
          secret:
            secretName: {{ include "openiothub.tlsSecretName" $root }}
        {{- end }}
{{- end -}}

{{/* The headless Service of a gRPC back end (one DNS record per ready pod): (dict "root" $ "name" "registry") */}}
{{- define "openiothub.grpcService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "openiothub.fullname" .root }}-{{ .name }}
  labels:
    {{- include "openiothub.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  clusterIP: None
  selector:
    {{- include "openiothub.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ include "openiothub.grpcPort" .name }}
      targetPort: grpc
      appProtocol: grpc
{{- end -}}

{{/* HPA and PodDisruptionBudget of a service: (dict "root" $ "name" "registry" "kind" "Deployment") */}}
{{- define "openiothub.scaling" -}}
{{- $svc := index .root.Values.services .name -}}
{{- if $svc.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "openiothub.fullname" .root }}-{{ .name }}
  labels:
    {{- include "openiothub.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ default "Deployment" .kind }}
    name: {{ include "openiothub.fullname" .root }}-{{ .name }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: { type: Utilization, averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }} }
    {{- if $svc.autoscaling.connectionsPerPod }}
    - type: Pods
      pods:
        metric: { name: openiothub_gateway_connections }
        target: { type: AverageValue, averageValue: {{ $svc.autoscaling.connectionsPerPod | quote }} }
    {{- end }}
  behavior:
    # device connections are long-lived: scale down slowly, so reconnect storms do not follow every dip
    scaleDown:
      stabilizationWindowSeconds: 600
      policies: [{ type: Pods, value: 1, periodSeconds: 120 }]
---
{{- end }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "openiothub.fullname" .root }}-{{ .name }}
  labels:
    {{- include "openiothub.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  maxUnavailable: {{ $svc.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "openiothub.selectorLabels" (dict "root" .root "name" .name) | nindent 6 }}
{{- end -}}
