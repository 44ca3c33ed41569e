variable "env" {
  description = "The env, as in clusters/<env>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.env))
    error_message = "env must be a lowercase name, as the folder under clusters/."
  }
}

variable "repo_url" {
  description = "Git repository Argo CD syncs (repoURL in the cluster facts)."
  type        = string

  validation {
    condition     = can(regex("^(https://|ssh://|git@)", var.repo_url))
    error_message = "repo_url must be an https://, ssh:// or git@ URL."
  }
}

variable "target_revision" {
  description = "Branch, tag or commit the root Application tracks."
  type        = string
  default     = "main"
}

variable "chart_version" {
  description = "Exact argo-cd chart version: the one the env pins (clusters/<env>/chart-versions.yaml, data.argo-cd), which its self-managed platform/argocd Application gets too."
  type        = string

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.chart_version))
    error_message = "chart_version must be an exact chart version such as 10.1.1, no range (clusters/<env>/chart-versions.yaml, data.argo-cd)."
  }
}

variable "values_file" {
  description = "Argo CD Helm values shared with platform/argocd (bootstrap/argocd/values.yaml)."
  type        = string
}

variable "env_values_file" {
  description = "This env's Argo CD values (clusters/<env>/values/argocd.yaml)."
  type        = string
}

variable "root_application_file" {
  description = "Template of the root Application (bootstrap/root-application.yaml)."
  type        = string
}

variable "root_project_file" {
  description = "Template of the root Application's AppProject (bootstrap/root-project.yaml)."
  type        = string
}

variable "apps_chart_version" {
  description = "argocd-apps chart version, which creates the root Application after Argo CD's CRDs exist."
  type        = string
  default     = "2.0.2"
}

variable "repository_username" {
  description = "Username for a private repository (with repository_password); null for a public one."
  type        = string
  default     = null
}

variable "repository_password" {
  description = "Token or password for a private repository. Pass it with TF_VAR_repository_password, never in a file in Git."
  type        = string
  default     = null
  sensitive   = true
}
