# The cluster stage of the real envs, from their facts (clusters/<env>/cluster-facts.yaml),
# with a mocked AWS provider. tests/test_aws_emulator.py applies it to a local AWS API too.
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
}

variables {
  env                  = "dev"
  public_access_cidrs  = ["203.0.113.0/24"]
  admin_principal_arns = ["arn:aws:iam::111122223333:role/platform-admin"]
  nat_gateway_per_az   = false
  gpu_node_max         = 2
}

run "dev_is_built_from_its_facts" {
  command = apply

  assert {
    condition     = output.cluster_name == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.clusterName && output.region == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.region
    error_message = "cluster name and region come from clusters/dev/cluster-facts.yaml"
  }
  assert {
    condition     = output.kubernetes_version == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.kubernetesVersion
    error_message = "the control plane runs the facts' Kubernetes version (the node groups follow it: modules/eks tests)"
  }
  assert {
    condition     = output.gpu_node_template_gpus == tonumber(yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.gpuTimeSlicingReplicas)
    error_message = "the GPU node template advertises the facts' time-slicing replicas (what the GPU Operator is configured with)"
  }
  assert {
    condition     = output.kubeconfig_command == "aws eks update-kubeconfig --region ${output.region} --name ${output.cluster_name}"
    error_message = "the kubeconfig command names the cluster and region"
  }
  assert {
    condition     = output.vpc_cidr == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.vpcCidr
    error_message = "the VPC is built with the facts' range (the app's NetworkPolicy admits its load balancer from there)"
  }
  assert {
    condition     = jsondecode(module.ebs_csi_driver_role.trust_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == split("/", output.pod_identity["aws-ebs-csi-driver"])[1]
    error_message = "the EBS CSI driver's role trusts the service account the add-on binds it to"
  }
}

run "prod_is_built_from_its_own_facts_with_the_same_code" {
  command = plan

  variables {
    env = "prod"
  }
  assert {
    condition     = output.cluster_name == yamldecode(file("../../../clusters/prod/cluster-facts.yaml")).data.clusterName
    error_message = "prod's cluster name comes from clusters/prod/cluster-facts.yaml"
  }
}

run "the_module_defaults_hold_where_an_env_sets_nothing" {
  command = plan

  assert {
    condition     = output.gpu_accelerator == "nvidia-tesla-t4"
    error_message = "without gpu_instance_type the eks module's default (g4dn.xlarge) applies"
  }
}

run "an_env_name_that_is_no_folder_name_is_rejected" {
  command = plan

  variables {
    env = "../prod"
  }
  expect_failures = [var.env]
}
