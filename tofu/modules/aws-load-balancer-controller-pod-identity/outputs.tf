output "role_arn" {
  description = "The role the controller's pods receive."
  value       = module.role.role_arn
}

output "service_account" {
  description = "namespace/name of the service account the role is bound to."
  value       = module.role.service_account
}

output "policy" {
  description = "The role's permissions (JSON), for tests."
  value       = local.policy
}

output "association" {
  description = "namespace/service account of the role's Pod Identity association."
  value       = module.role.association
}

output "trust_policy" {
  description = "The role's trust policy (JSON), for tests."
  value       = module.role.trust_policy
}
