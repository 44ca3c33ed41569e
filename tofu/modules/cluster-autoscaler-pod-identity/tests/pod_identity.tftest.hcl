mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/ca" }
  }
}

variables {
  cluster_name = "gpu-inference-test"
}

run "the_role_is_bound_to_the_autoscalers_service_account_and_scoped_to_the_cluster" {
  command = apply

  assert {
    condition     = aws_eks_pod_identity_association.this.namespace == "kube-system" && aws_eks_pod_identity_association.this.service_account == "cluster-autoscaler"
    error_message = "bound to kube-system/cluster-autoscaler"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[1].Condition.StringEquals["aws:ResourceTag/k8s.io/cluster-autoscaler/gpu-inference-test"] == "owned"
    error_message = "scaling is limited to Auto Scaling groups tagged as owned by this cluster"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.this.policy).Statement[2].Action == "eks:DescribeNodegroup" && jsondecode(aws_iam_role_policy.this.policy).Statement[2].Resource == "arn:aws:eks:eu-west-1:111122223333:nodegroup/gpu-inference-test/*"
    error_message = "eks:DescribeNodegroup on this cluster's node groups, for scale from zero"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "pods.eks.amazonaws.com"
    error_message = "trusted by EKS Pod Identity"
  }
}
