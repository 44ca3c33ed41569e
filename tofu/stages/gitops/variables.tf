variable "env" {
  description = "The env: clusters/<env>/ holds its facts and Argo CD values (make passes ENV)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.env))
    error_message = "env must be the name of a folder under clusters/, e.g. dev."
  }
}

variable "repository_username" {
  description = "Username for a private Git repository; null for a public one."
  type        = string
  default     = null
}

variable "repository_password" {
  description = "Token for a private Git repository: export TF_VAR_repository_password, never commit it."
  type        = string
  default     = null
  sensitive   = true
}
