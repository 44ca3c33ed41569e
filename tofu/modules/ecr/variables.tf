variable "repository_name" {
  description = "Name of the ECR repository for the model-server image."
  type        = string
  default     = "model-server"

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.repository_name))
    error_message = "repository_name must be lowercase letters, digits and . _ - / separators."
  }
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images expire. Tagged images never expire."
  type        = number
  default     = 1

  validation {
    condition     = var.untagged_expiry_days >= 1
    error_message = "untagged_expiry_days must be at least 1."
  }
}

variable "pull_account_ids" {
  description = "Other AWS accounts whose EKS node roles may pull images (one account per env); empty when every env lives in this account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.pull_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "pull_account_ids must be 12-digit AWS account IDs."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
