# Stage 2 of prod: installs Argo CD and the root Application on the cluster that stage 1
# built. It finds the cluster by the name in the facts file (no remote state to share).

locals {
  facts = yamldecode(file("${path.module}/../../../../clusters/prod/cluster-facts.yaml")).data
  repo  = "${path.module}/../../../.."
}

provider "aws" {
  region = local.facts["region"]
}

data "aws_eks_cluster" "this" {
  name = local.facts["clusterName"]
}

locals {
  kube = {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec_args              = ["eks", "get-token", "--cluster-name", local.facts["clusterName"], "--region", local.facts["region"]]
  }
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
  source = "../../../modules/argocd-bootstrap"

  env                   = local.facts["env"]
  repo_url              = local.facts["repoURL"]
  target_revision       = local.facts["targetRevision"]
  values_file           = "${local.repo}/bootstrap/argocd/values.yaml"
  env_values_file       = "${local.repo}/clusters/prod/values/argocd.yaml"
  root_application_file = "${local.repo}/bootstrap/root-application.yaml"
  repository_username   = var.repository_username
  repository_password   = var.repository_password
}
