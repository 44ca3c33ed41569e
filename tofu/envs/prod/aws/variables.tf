variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (true) or one shared (false)."
  type        = bool
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public Kubernetes API endpoint."
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM roles or users with cluster-admin access."
  type        = list(string)
}

variable "gpu_node_max" {
  description = "Most GPU nodes."
  type        = number
}

variable "github_repository" {
  description = "owner/name whose GitHub Actions may push images; null for none."
  type        = string
  default     = null
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false if another env of the account has it)."
  type        = bool
  default     = true
}
