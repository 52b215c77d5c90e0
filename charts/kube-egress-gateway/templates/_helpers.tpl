{{/* The prefix of every object's name: the release name, plus the chart name unless the release name holds it. */}}
{{- define "keg.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "keg.labels" -}}
app.kubernetes.io/part-of: kube-egress-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one part; call with (dict "root" $ "part" "operator"). */}}
{{- define "keg.selector" -}}
app.kubernetes.io/name: kube-egress-gateway
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .part }}
{{- end -}}

{{- define "keg.image" -}}
{{- $c := .Values.common -}}
{{- $tag := $c.imageTag | default .Chart.AppVersion -}}
{{- if $c.imageRepository -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $c.imageRepository) $c.imageName $tag -}}
{{- else -}}
{{- printf "%s:%s" $c.imageName $tag -}}
{{- end -}}
{{- end -}}

{{/* Refuses a key Secret namespace the gateway daemons would share with the cloud config. */}}
{{- define "keg.keySecretNamespace" -}}
{{- $ns := required "keySecretNamespace is required" .Values.keySecretNamespace -}}
{{- if eq $ns .Release.Namespace -}}
{{- fail (printf "keySecretNamespace must not be the release namespace (%s): the gateway daemons may read every Secret in it, and the cloud-config Secret lives in the release namespace" $ns) -}}
{{- end -}}
{{- $ns -}}
{{- end -}}

{{- define "keg.imagePullSecrets" -}}
{{- with .Values.common.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where the node agent runs (and its tunnel host): every node but the gateway nodes. Call with gatewayCNIManager's values. */}}
{{- define "keg.agentPlacement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            # Every node except the gateway nodes.
            - key: kubeegressgateway.azure.com/mode
              operator: NotIn
              values: ["true"]
{{- end -}}
