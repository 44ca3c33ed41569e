output "role_arn" {
  description = "The role the service account's pods receive."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role (<cluster_name>-<name>, at most 64 characters)."
  value       = aws_iam_role.this.name
}

output "trust_policy" {
  description = "The role's trust policy (JSON), for tests."
  value       = aws_iam_role.this.assume_role_policy
}

output "service_account" {
  description = "namespace/name of the service account the role is bound to."
  value       = "${var.namespace}/${var.service_account}"
}

output "association" {
  description = "namespace/service account of the Pod Identity association this module made (null when an add-on binds the role itself)."
  # one() of the association made, so a plan without it (an add-on binds the role; the AWS
  # emulator, which has no Pod Identity) reads null instead of failing on an index.
  value = one([for a in aws_eks_pod_identity_association.this : "${a.namespace}/${a.service_account}"])
}
