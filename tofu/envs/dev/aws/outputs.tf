output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.stack.cluster_name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = module.stack.cluster_endpoint
}

output "region" {
  description = "AWS region."
  value       = module.stack.region
}

output "ecr_repository_url" {
  description = "Where CI pushes the model-server image; set it as images.newName in apps/swin-t/overlays/<env>."
  value       = module.stack.ecr_repository_url
}

output "github_push_role_arn" {
  description = "Role for GitHub Actions, or null."
  value       = module.stack.github_push_role_arn
}

output "kubeconfig_command" {
  description = "How to point kubectl at the cluster."
  value       = module.stack.kubeconfig_command
}
