variable "cluster_name" {
  description = "Name of the EKS cluster (clusterName in clusters/<env>/cluster-facts.yaml); every name in the env derives from it."
  type        = string

  # At most 32 characters: IAM role names are limited to 64, and the longest derived one is
  # "<cluster>-" plus a purpose of up to 31 characters (tests/test_tofu_static.py checks it).
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.cluster_name)) && length(var.cluster_name) <= 32
    error_message = "cluster_name must be 2-32 lowercase letters, digits or dashes, starting with a letter and not ending with a dash."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version; one in EKS standard support."
  type        = string
  default     = "1.35"

  validation {
    condition     = contains(["1.33", "1.34", "1.35"], var.kubernetes_version)
    error_message = "kubernetes_version must be one EKS supports in standard support: 1.33, 1.34 or 1.35."
  }
}

variable "support_type" {
  description = "upgrade_policy of the cluster: STANDARD (EKS upgrades it when standard support ends) or EXTENDED (stays, billed at about 6x the hourly price)."
  type        = string
  default     = "STANDARD"
  nullable    = false

  validation {
    condition     = contains(["STANDARD", "EXTENDED"], var.support_type)
    error_message = "support_type must be STANDARD or EXTENDED."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (one per AZ, at least two) for the control plane ENIs and the nodes."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets in different AZs."
  }
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (the private endpoint is always on)."
  type        = list(string)

  validation {
    condition     = length(var.public_access_cidrs) > 0 && alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be a non-empty list of valid CIDRs, and not 0.0.0.0/0."
  }
}

variable "admin_principal_arns" {
  description = "IAM roles or users given cluster-admin through EKS access entries."
  type        = list(string)

  validation {
    condition     = length(var.admin_principal_arns) > 0 && alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must list at least one IAM role or user ARN."
  }
}

variable "system_instance_types" {
  description = "Instance types of the CPU system node group (add-ons, monitoring, Argo CD)."
  type        = list(string)
  default     = ["m6i.large"]
  nullable    = false
}

variable "system_node_count" {
  description = "min, desired and max size of the system node group."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 4 }
  nullable    = false

  validation {
    condition     = var.system_node_count.min >= 2 && var.system_node_count.min <= var.system_node_count.desired && var.system_node_count.desired <= var.system_node_count.max
    error_message = "system_node_count needs 2 <= min <= desired <= max."
  }
}

variable "gpu_instance_type" {
  description = "Instance type of the GPU node group; its family sets the k8s.amazonaws.com/accelerator label (g4dn, g5, g6, g6e, p4d, p5)."
  type        = string
  default     = "g4dn.xlarge"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.gpu_instance_type))
    error_message = "gpu_instance_type must be an EC2 instance type such as g4dn.xlarge."
  }
}

variable "gpus_per_node" {
  description = "Physical GPUs per GPU node (1 for g4dn.xlarge)."
  type        = number
  default     = 1
  nullable    = false
}

variable "gpu_time_slicing_replicas" {
  description = "nvidia.com/gpu advertised per physical GPU by the GPU Operator (gpuTimeSlicingReplicas in the cluster facts)."
  type        = number

  validation {
    condition     = var.gpu_time_slicing_replicas >= 1 && var.gpu_time_slicing_replicas <= 16
    error_message = "gpu_time_slicing_replicas must be between 1 and 16."
  }
}

variable "gpu_node_max" {
  description = "Most GPU nodes; the group starts from zero and cluster-autoscaler adds nodes."
  type        = number
  default     = 4

  validation {
    condition     = var.gpu_node_max >= 1
    error_message = "gpu_node_max must be at least 1."
  }
}

variable "node_auto_repair" {
  description = "EKS node auto-repair on both node groups: nodes whose kubelet or GPUs turn unhealthy are replaced."
  type        = bool
  default     = true
  nullable    = false
}

variable "system_volume_gib" {
  description = "Root volume of system nodes."
  type        = number
  default     = 50
}

variable "gpu_volume_gib" {
  description = "Root volume of GPU nodes: the model-server image (CUDA torch) is several GB."
  type        = number
  default     = 100

  validation {
    condition     = var.gpu_volume_gib >= 60
    error_message = "gpu_volume_gib must be at least 60 to hold the model-server image."
  }
}

variable "addon_versions" {
  description = "Add-on versions by name (vpc-cni, coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver); a missing one gets AWS's default version for kubernetes_version."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.addon_versions) : contains(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"], k)])
    error_message = "addon_versions keys must be vpc-cni, coredns, kube-proxy, eks-pod-identity-agent or aws-ebs-csi-driver."
  }
}

variable "ebs_csi_role_arn" {
  description = "IAM role of the EBS CSI driver's controller (module pod-identity-role, association \"addon\")."
  type        = string
}

variable "ebs_csi_service_account" {
  description = "The EBS CSI driver's controller service account in kube-system (the add-on's own name), bound to ebs_csi_role_arn."
  type        = string
  default     = "ebs-csi-controller-sa"
  nullable    = false
}

variable "log_retention_days" {
  description = "How long control-plane logs (audit included) are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
