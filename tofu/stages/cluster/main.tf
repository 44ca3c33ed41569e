# The AWS stage of one env: VPC, EKS with its node groups and add-ons, and the Pod Identity
# roles of the add-ons. The env is data: `-var env=<env>` picks clusters/<env>/ (the facts
# that Kustomize reads too) and `-var-file=clusters/<env>/cluster.tfvars` sizes it. Every
# AWS name derives from the cluster name, so any number of envs share an account.

locals {
  repo = "${path.module}/../../.."
}

module "env" {
  source  = "../../modules/env-facts"
  env_dir = "${local.repo}/clusters/${var.env}"
}

locals {
  facts = module.env.facts
}

provider "aws" {
  region = local.facts.region

  default_tags {
    tags = { "app.kubernetes.io/part-of" = "gpu-inference", env = var.env }
  }
}

module "network" {
  source              = "../../modules/network"
  name                = local.facts.cluster_name
  cidr                = local.facts.vpc_cidr
  nat_gateway_per_az  = var.nat_gateway_per_az
  interface_endpoints = var.interface_endpoints
}

module "eks" {
  source                    = "../../modules/eks"
  cluster_name              = local.facts.cluster_name
  kubernetes_version        = local.facts.kubernetes_version
  support_type              = var.support_type
  vpc_id                    = module.network.vpc_id
  private_subnet_ids        = module.network.private_subnet_ids
  public_access_cidrs       = var.public_access_cidrs
  admin_principal_arns      = var.admin_principal_arns
  system_instance_types     = var.system_instance_types
  system_node_count         = var.system_node_count
  gpu_instance_type         = var.gpu_instance_type
  gpus_per_node             = var.gpus_per_node
  gpu_time_slicing_replicas = local.facts.gpu_time_slicing_replicas
  gpu_node_max              = var.gpu_node_max
  node_auto_repair          = var.node_auto_repair
  addon_versions            = var.addon_versions
  ebs_csi_role_arn          = module.ebs_csi_driver_role.role_arn
  ebs_csi_service_account   = local.ebs_csi_service_account
}

# Pod Identity roles of the add-ons, one small module each: those Argo CD installs are bound
# to the service accounts their charts' values name (a test compares them).
module "cluster_autoscaler" {
  source       = "../../modules/cluster-autoscaler-pod-identity"
  cluster_name = module.eks.cluster_name
}

module "aws_load_balancer_controller" {
  source       = "../../modules/aws-load-balancer-controller-pod-identity"
  cluster_name = module.eks.cluster_name
}

# The EBS CSI driver is an EKS add-on (module eks) that binds its own service account.
locals {
  ebs_csi_service_account = "ebs-csi-controller-sa"
}

module "ebs_csi_driver_role" {
  source          = "../../modules/pod-identity-role"
  cluster_name    = local.facts.cluster_name
  name            = "ebs-csi-driver"
  namespace       = "kube-system"
  service_account = local.ebs_csi_service_account
  association     = "addon"
  managed_policy_arns = [
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
  ]
}

data "aws_partition" "current" {}
