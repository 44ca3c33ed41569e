variable "cluster_name" {
  description = "EKS cluster whose load balancers the controller manages."
  type        = string
}

variable "namespace" {
  description = "Namespace of the controller's service account (destination of platform/aws-load-balancer-controller)."
  type        = string
  default     = "kube-system"
}

variable "service_account" {
  description = "The controller's service account (serviceAccount.name in platform/aws-load-balancer-controller/values.yaml)."
  type        = string
  default     = "aws-load-balancer-controller"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
