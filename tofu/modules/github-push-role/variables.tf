variable "github_repository" {
  description = "owner/name of the GitHub repository whose Actions may push images."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_ref" {
  description = "The Git ref whose jobs may push (a job without a GitHub environment)."
  type        = string
  default     = "refs/heads/main"

  validation {
    condition     = can(regex("^refs/(heads|tags)/[^*]+$", var.github_ref))
    error_message = "github_ref must be a full ref without wildcards, e.g. refs/heads/main."
  }
}

variable "github_environments" {
  description = "GitHub environments whose jobs may push (a job with `environment:` presents repo:OWNER/NAME:environment:ENV instead of its ref)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.github_environments : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "github_environments must be plain environment names (letters, digits, _ . -), no wildcards."
  }
}

variable "repository_arns" {
  description = "ECR repositories the role may push to."
  type        = list(string)

  validation {
    condition     = length(var.repository_arns) > 0
    error_message = "repository_arns must name at least one repository."
  }
}

variable "role_name" {
  description = "Name of the IAM role (one per account: it belongs to the account layer)."
  type        = string
  default     = "model-server-github-push"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name of at most 64 characters."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false when the account already has one (only one may exist per account)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
