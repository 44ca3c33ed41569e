output "namespace" {
  description = "Namespace of Argo CD."
  value       = local.namespace
}

output "root_application" {
  description = "Name of the root Application."
  value       = local.root.metadata.name
}

output "ui_command" {
  description = "How to reach the Argo CD UI (never exposed outside the cluster)."
  value       = "kubectl -n ${local.namespace} port-forward svc/argocd-server 8080:80  # then http://localhost:8080, user admin, password: kubectl -n ${local.namespace} get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d"
}
