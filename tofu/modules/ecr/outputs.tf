output "repository_url" {
  description = "Where to push the model-server image (the overlays' `images.newName`)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository."
  value       = aws_ecr_repository.this.arn
}

output "github_push_role_arn" {
  description = "Role for GitHub Actions (aws-actions/configure-aws-credentials role-to-assume); null without github_repository."
  value       = try(aws_iam_role.github_push[0].arn, null)
}
