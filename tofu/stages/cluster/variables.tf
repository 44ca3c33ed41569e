# The env's sizing and access: clusters/<env>/cluster.tfvars. Facts shared with the GitOps side
# (cluster name, region, Kubernetes version, time-slicing) are in clusters/<env>/cluster-facts.yaml.
# A null keeps the default of the module that uses it (tofu/modules/<module>/variables.tf).

variable "env" {
  description = "The env: clusters/<env>/ holds its facts and inputs (make passes ENV)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.env))
    error_message = "env must be the name of a folder under clusters/, e.g. dev."
  }
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public Kubernetes API endpoint (never 0.0.0.0/0)."
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM roles or users with cluster-admin access; include the one that runs make deploy."
  type        = list(string)
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (survives an AZ outage) or a single one (cheaper)."
  type        = bool
}

variable "gpu_node_max" {
  description = "Most GPU nodes; needs as many vCPUs of the G-instance quota (docs/operations.md)."
  type        = number
}

variable "interface_endpoints" {
  description = "ECR and STS interface endpoints (cost in tofu/modules/network/variables.tf)."
  type        = bool
  default     = null
}

variable "support_type" {
  description = "EKS upgrade policy: STANDARD or EXTENDED (about 6x the hourly price after standard support ends)."
  type        = string
  default     = null
}

variable "system_instance_types" {
  description = "Instance types of the system node group."
  type        = list(string)
  default     = null
}

variable "system_node_count" {
  description = "min, desired and max size of the system node group."
  type        = object({ min = number, desired = number, max = number })
  default     = null
}

variable "gpu_instance_type" {
  description = "Instance type of the GPU node group (family g4dn, g5, g6, g6e, p4d or p5)."
  type        = string
  default     = null
}

variable "gpus_per_node" {
  description = "Physical GPUs per GPU node."
  type        = number
  default     = null
}

variable "node_auto_repair" {
  description = "EKS node auto-repair on the node groups."
  type        = bool
  default     = null
}

variable "addon_versions" {
  description = "Pinned EKS add-on versions by name; others get AWS's default for the Kubernetes version."
  type        = map(string)
  default     = null
}
