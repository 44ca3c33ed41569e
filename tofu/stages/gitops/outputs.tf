output "argocd_ui_command" {
  description = "How to reach the Argo CD UI."
  value       = module.argocd.ui_command
}

output "root_application" {
  description = "The Application that syncs clusters/<env>."
  value       = module.argocd.root_application
}
