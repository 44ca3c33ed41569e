output "role_arn" {
  description = "Role for GitHub Actions (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}

output "subjects" {
  description = "The OIDC token subjects the role trusts."
  value       = local.subjects
}

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider."
  value       = local.oidc_provider_arn
}
