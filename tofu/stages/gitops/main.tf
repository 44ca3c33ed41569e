# The GitOps stage of one env: Argo CD and the root Application on the cluster that the
# cluster stage built (applied after it: the helm and kubernetes providers need a cluster to
# talk to). It finds the cluster by the name in the env's facts; no remote state is shared.

locals {
  repo    = "${path.module}/../../.."
  env_dir = "${local.repo}/clusters/${var.env}"
}

module "env" {
  source  = "../../modules/env-facts"
  env_dir = local.env_dir
}

locals {
  facts = module.env.facts
  kube = {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec_args              = ["eks", "get-token", "--cluster-name", local.facts.cluster_name, "--region", local.facts.region]
  }
}

provider "aws" {
  region = local.facts.region
}

data "aws_eks_cluster" "this" {
  name = local.facts.cluster_name
}

provider "kubernetes" {
  host                   = local.kube.host
  cluster_ca_certificate = local.kube.cluster_ca_certificate
  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = local.kube.exec_args
  }
}

provider "helm" {
  kubernetes = {
    host                   = local.kube.host
    cluster_ca_certificate = local.kube.cluster_ca_certificate
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = local.kube.exec_args
    }
  }
}

module "argocd" {
  source = "../../modules/argocd-bootstrap"

  env                   = local.facts.env
  repo_url              = local.facts.repo_url
  target_revision       = local.facts.target_revision
  chart_version         = module.env.chart_versions["argo-cd"]
  values_file           = "${local.repo}/bootstrap/argocd/values.yaml"
  env_values_file       = "${local.env_dir}/values/argocd.yaml"
  root_application_file = "${local.repo}/bootstrap/root-application.yaml"
  root_project_file     = "${local.repo}/bootstrap/root-project.yaml"
  repository_username   = var.repository_username
  repository_password   = var.repository_password
}
