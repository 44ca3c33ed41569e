variable "cluster_name" {
  description = "EKS cluster whose node groups cluster-autoscaler manages."
  type        = string

  validation {
    condition     = length(var.cluster_name) > 0 && length("${var.cluster_name}-cluster-autoscaler") <= 64
    error_message = "cluster_name must be 1-45 characters: the role \"<cluster_name>-cluster-autoscaler\" may have at most 64."
  }
}

variable "namespace" {
  description = "Namespace of cluster-autoscaler's service account (platform/cluster-autoscaler)."
  type        = string
  default     = "kube-system"
}

variable "service_account" {
  description = "cluster-autoscaler's service account (rbac.serviceAccount.name in platform/cluster-autoscaler/values.yaml)."
  type        = string
  default     = "cluster-autoscaler"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
