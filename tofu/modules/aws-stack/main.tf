# Everything the AWS-only stage of an env builds, wired from the env's cluster facts.

module "network" {
  source             = "../network"
  name               = var.facts["clusterName"]
  cidr               = var.vpc_cidr
  nat_gateway_per_az = var.nat_gateway_per_az
  tags               = var.tags
}

module "eks" {
  source                    = "../eks"
  cluster_name              = var.facts["clusterName"]
  kubernetes_version        = var.facts["kubernetesVersion"]
  vpc_id                    = module.network.vpc_id
  private_subnet_ids        = module.network.private_subnet_ids
  public_access_cidrs       = var.public_access_cidrs
  admin_principal_arns      = var.admin_principal_arns
  system_node_count         = var.system_node_count
  gpu_instance_type         = var.gpu_instance_type
  gpus_per_node             = var.gpus_per_node
  gpu_time_slicing_replicas = tonumber(var.facts["gpuTimeSlicingReplicas"])
  gpu_node_max              = var.gpu_node_max
  addon_versions            = var.addon_versions
  tags                      = var.tags
}

module "cluster_autoscaler" {
  source       = "../cluster-autoscaler-pod-identity"
  cluster_name = module.eks.cluster_name
  tags         = var.tags
}

module "ecr" {
  source                      = "../ecr"
  github_repository           = var.github_repository
  create_github_oidc_provider = var.create_github_oidc_provider
  tags                        = var.tags
}
