variable "repository_name" {
  description = "Name of the ECR repository for the model-server image."
  type        = string
  default     = "model-server"

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.repository_name))
    error_message = "repository_name must be lowercase letters, digits and . _ - / separators."
  }
}

variable "keep_images" {
  description = "How many tagged images to keep; older ones expire (untagged ones after a day)."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_images >= 5
    error_message = "keep_images must be at least 5, so that rollbacks stay possible."
  }
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose Actions may push images (OIDC); null for no CI role."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_ref" {
  description = "Git ref allowed to push, e.g. refs/heads/main."
  type        = string
  default     = "refs/heads/main"
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (only one may exist per account)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
