output "role_arn" {
  description = "The role cluster-autoscaler's pods receive."
  value       = aws_iam_role.this.arn
}

output "service_account" {
  description = "namespace/name of the service account the role is bound to."
  value       = "${var.namespace}/${var.service_account}"
}
