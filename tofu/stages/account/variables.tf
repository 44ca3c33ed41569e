variable "region" {
  description = "Region of the registry; envs in other regions pull across regions (billed per GB)."
  type        = string
}

variable "repository_name" {
  description = "The model-server image repository (apps/swin-t/overlays/<env> images.newName ends with it)."
  type        = string
  default     = "model-server"
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub: its Actions push images."
  type        = string
}

variable "github_environments" {
  description = "GitHub environments whose jobs may push images, besides jobs on main. The default is the environment of the job that pushes in .github/workflows/build-image.yaml (a test keeps them in step)."
  type        = list(string)
  default     = ["dev"]
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false when the account already has one."
  type        = bool
  default     = true
}

variable "pull_account_ids" {
  description = "AWS accounts of envs that live in other accounts (one account per env): their node roles may pull. Empty when every env is in this account."
  type        = list(string)
  default     = []
}
