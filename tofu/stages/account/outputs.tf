output "ecr_repository_url" {
  description = "Where CI pushes the model-server image: images[0].newName in apps/swin-t/overlays/<env>/kustomization.yaml."
  value       = module.ecr.repository_url
}

output "github_push_role_arn" {
  description = "The role GitHub Actions assume to push (role-to-assume)."
  value       = module.github_push_role.role_arn
}

output "github_push_subjects" {
  description = "The GitHub OIDC subjects the push role trusts."
  value       = module.github_push_role.subjects
}
