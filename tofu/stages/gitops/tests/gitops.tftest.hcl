# Runs where the helm and kubernetes providers can be installed; offline, the repository's
# tests check this stage statically (tests/test_tofu_static.py).
mock_provider "aws" {
  mock_data "aws_eks_cluster" {
    defaults = { endpoint = "https://example.eks.amazonaws.com", certificate_authority = [{ data = "Y2E=" }] }
  }
}
mock_provider "helm" {}
mock_provider "kubernetes" {}

run "each_env_gets_argocd_and_a_root_application_for_its_own_folder" {
  command = plan

  variables {
    env = "prod"
  }
  assert {
    condition     = output.root_application == "root" && data.aws_eks_cluster.this.name == yamldecode(file("../../../clusters/prod/cluster-facts.yaml")).data.clusterName
    error_message = "the stage finds prod's cluster by the name in prod's facts"
  }
}
