# The stack as the dev env builds it, from dev's real cluster facts.
mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_eks_addon_version" {
    defaults = { version = "v1.0.0-eksbuild.1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/test" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/test" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:test" }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  mock_resource "aws_eks_cluster" {
    defaults = { certificate_authority = [{ data = "Y2E=" }], endpoint = "https://example.eks.amazonaws.com" }
  }
  mock_resource "aws_eks_node_group" {
    defaults = { resources = [{ autoscaling_groups = [{ name = "eks-asg" }], remote_access_security_group_id = "" }] }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:eu-west-1:111122223333:repository/model-server", repository_url = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/model-server" }
  }
}

variables {
  facts                = yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data
  nat_gateway_per_az   = false
  public_access_cidrs  = ["203.0.113.0/24"]
  admin_principal_arns = ["arn:aws:iam::111122223333:role/platform-admin"]
}

run "the_cluster_is_built_from_the_env_facts" {
  command = apply

  assert {
    condition     = output.cluster_name == "gpu-inference-dev" && output.region == "eu-west-1"
    error_message = "cluster name and region come from clusters/dev/cluster-facts.yaml"
  }
  assert {
    condition     = output.gpu_node_template_gpus == tonumber(yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.gpuTimeSlicingReplicas)
    error_message = "the GPU node template advertises the facts' time-slicing replicas (what the GPU Operator is configured with)"
  }
  assert {
    condition     = output.kubeconfig_command == "aws eks update-kubeconfig --region eu-west-1 --name gpu-inference-dev"
    error_message = "the kubeconfig command names the cluster and region"
  }
}

run "facts_without_the_needed_keys_are_rejected" {
  command = plan

  variables {
    facts = { clusterName = "x" }
  }
  expect_failures = [var.facts]
}
