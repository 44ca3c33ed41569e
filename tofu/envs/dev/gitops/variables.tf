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
