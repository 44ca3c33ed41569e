# Stage 1 of prod, AWS only: network, EKS, cluster-autoscaler's Pod Identity, ECR.
# Cluster name, region, Kubernetes version and GPU time-slicing come from the facts file
# that the GitOps side reads too.

locals {
  facts = yamldecode(file("${path.module}/../../../../clusters/prod/cluster-facts.yaml")).data
}

provider "aws" {
  region = local.facts["region"]

  default_tags {
    tags = { "app.kubernetes.io/part-of" = "gpu-inference", env = "prod" }
  }
}

module "stack" {
  source = "../../../modules/aws-stack"

  facts                       = local.facts
  nat_gateway_per_az          = var.nat_gateway_per_az
  public_access_cidrs         = var.public_access_cidrs
  admin_principal_arns        = var.admin_principal_arns
  gpu_node_max                = var.gpu_node_max
  github_repository           = var.github_repository
  create_github_oidc_provider = var.create_github_oidc_provider
}
