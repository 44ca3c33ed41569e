output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "region" {
  description = "AWS region."
  value       = var.facts["region"]
}

output "ecr_repository_url" {
  description = "Where CI pushes the model-server image."
  value       = module.ecr.repository_url
}

output "github_push_role_arn" {
  description = "Role for GitHub Actions, or null."
  value       = module.ecr.github_push_role_arn
}

output "gpu_node_template_gpus" {
  description = "nvidia.com/gpu advertised to cluster-autoscaler per new GPU node."
  value       = module.eks.gpu_node_template_gpus
}

output "kubeconfig_command" {
  description = "How to point kubectl at the cluster."
  value       = "aws eks update-kubeconfig --region ${var.facts["region"]} --name ${module.eks.cluster_name}"
}
