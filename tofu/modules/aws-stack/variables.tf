variable "facts" {
  description = "The env's cluster facts: data of clusters/<env>/cluster-facts.yaml (clusterName, region, kubernetesVersion, gpuTimeSlicingReplicas)."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["clusterName", "region", "kubernetesVersion", "gpuTimeSlicingReplicas"] : contains(keys(var.facts), k)])
    error_message = "facts must hold clusterName, region, kubernetesVersion and gpuTimeSlicingReplicas (clusters/<env>/cluster-facts.yaml)."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (prod) or a single one (dev)."
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

variable "gpu_instance_type" {
  description = "Instance type of the GPU node group."
  type        = string
  default     = "g4dn.xlarge"
}

variable "gpus_per_node" {
  description = "Physical GPUs per GPU node."
  type        = number
  default     = 1
}

variable "gpu_node_max" {
  description = "Most GPU nodes."
  type        = number
  default     = 4
}

variable "system_node_count" {
  description = "min, desired and max size of the system node group."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 4 }
}

variable "addon_versions" {
  description = "Pinned EKS add-on versions by name; others get AWS's default for the Kubernetes version."
  type        = map(string)
  default     = {}
}

variable "github_repository" {
  description = "owner/name allowed to push images from GitHub Actions; null for none."
  type        = string
  default     = null
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (one per account)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
