output "repository_url" {
  description = "Where to push the model-server image (the overlays' `images.newName`)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository."
  value       = aws_ecr_repository.this.arn
}

output "repository_name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "pull_policy" {
  description = "The repository policy that lets other accounts' nodes pull, or null without pull_account_ids."
  value       = try(aws_ecr_repository_policy.pull[0].policy, null)
}
