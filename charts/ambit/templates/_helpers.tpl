{{/* Labels every object of the release carries. */}}
{{- define "ambit.labels" -}}
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The release must live in ambit-system: the controller reads the mesh-wide PeerAuthentication there. */}}
{{- define "ambit.checkNamespace" -}}
{{- if ne .Release.Namespace "ambit-system" -}}
{{- fail (printf "install Ambit into the namespace ambit-system (helm install ... -n ambit-system --create-namespace), not %q: the mesh-wide mTLS setting is read from ambit-system" .Release.Namespace) -}}
{{- end -}}
{{- end }}

{{/* The image of one component: (dict "root" $ "c" .Values.<component>) → registry/name:tag. */}}
{{- define "ambit.image" -}}
{{- $img := .c.image -}}
{{- $repo := $img.repository | default (printf "%s/%s" (.root.Values.image.registry | trimSuffix "/") $img.name) -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end }}

{{- define "ambit.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The controller's Service address, for ztunnel and waypoints. */}}
{{- define "ambit.controllerAddress" -}}
{{- printf "ambit-controller.%s.svc:15012" .Release.Namespace -}}
{{- end }}

{{/* The CA Secret the controller reads (and, without an operator-provided one, creates). */}}
{{- define "ambit.caSecret" -}}
{{- .Values.ca.existingSecret | default "ambit-ca" -}}
{{- end }}

{{/*
The node groups the node DaemonSets are rendered for: the default one (name "", the nodes no
group claims) and one per .Values.nodeGroups entry, each with its host paths merged over the
defaults and the node affinity that selects its nodes. Returned as YAML (a list), read back with
fromYamlArray.
*/}}
{{- define "ambit.nodeGroups" -}}
{{- $groups := list -}}
{{- $exclude := list -}}
{{- range .Values.nodeGroups -}}
{{- $exclude = append $exclude (dict "key" .nodeLabel.key "operator" "NotIn" "values" .nodeLabel.values) -}}
{{- end -}}
{{- $default := dict "name" "" "suffix" "" "hostPaths" .Values.hostPaths -}}
{{- if $exclude -}}
{{- $_ := set $default "affinity" (dict "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" (list (dict "matchExpressions" $exclude))))) -}}
{{- end -}}
{{- $groups = append $groups $default -}}
{{- range .Values.nodeGroups -}}
{{- $paths := merge (deepCopy (.hostPaths | default dict)) $.Values.hostPaths -}}
{{- $select := dict "key" .nodeLabel.key "operator" "In" "values" .nodeLabel.values -}}
{{- $groups = append $groups (dict "name" .name "suffix" (printf "-%s" .name) "hostPaths" $paths "affinity" (dict "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" (list (dict "matchExpressions" (list $select))))))) -}}
{{- end -}}
{{- toYaml $groups -}}
{{- end }}

{{/* Pod-level seccomp for every component. */}}
{{- define "ambit.podSecurity" -}}
seccompProfile:
  type: RuntimeDefault
{{- end }}
