{{- define "ampora.fullname" -}}{{ .Release.Name }}-ampora{{- end -}}
{{- define "ampora.labels" -}}
app.kubernetes.io/name: ampora
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "ampora.selector" -}}
app.kubernetes.io/name: ampora
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "ampora.image" -}}
{{- if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- else -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- end -}}
