variable "cluster_name" {
  description = "EKS cluster whose pods may assume the role; the role is named <cluster_name>-<name>."
  type        = string
}

variable "name" {
  description = "What the role is for (the add-on), e.g. aws-load-balancer-controller."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.name))
    error_message = "name must be lowercase letters, digits and dashes."
  }
}

variable "namespace" {
  description = "Namespace of the service account the role is bound to."
  type        = string
}

variable "service_account" {
  description = "The service account the role is bound to (as the add-on's chart or EKS add-on names it)."
  type        = string
}

variable "policy_json" {
  description = "Inline policy of the role (JSON), or null for none."
  type        = string
  default     = null
}

variable "managed_policy_arns" {
  description = "Managed policies attached to the role."
  type        = list(string)
  default     = []
}

variable "association" {
  description = "Who binds the role to the service account: `module` (a Pod Identity association made here) or `addon` (an EKS add-on's pod_identity_association)."
  type        = string
  default     = "module"

  validation {
    condition     = contains(["module", "addon"], var.association)
    error_message = "association must be module or addon."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
