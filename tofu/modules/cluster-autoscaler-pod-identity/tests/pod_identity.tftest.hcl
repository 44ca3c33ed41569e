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
    condition     = output.service_account == "kube-system/cluster-autoscaler"
    error_message = "bound to kube-system/cluster-autoscaler"
  }
  assert {
    condition     = jsondecode(output.policy).Statement[1].Condition.StringEquals["aws:ResourceTag/k8s.io/cluster-autoscaler/gpu-inference-test"] == "owned"
    error_message = "scaling is limited to Auto Scaling groups tagged as owned by this cluster"
  }
  assert {
    condition     = jsondecode(output.policy).Statement[2].Action == "eks:DescribeNodegroup" && jsondecode(output.policy).Statement[2].Resource == "arn:aws:eks:eu-west-1:111122223333:nodegroup/gpu-inference-test/*"
    error_message = "eks:DescribeNodegroup on this cluster's node groups, for scale from zero"
  }
  assert {
    condition = jsondecode(output.trust_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = {
          "aws:RequestTag/eks-cluster-name"           = "gpu-inference-test"
          "aws:RequestTag/kubernetes-namespace"       = "kube-system"
          "aws:RequestTag/kubernetes-service-account" = "cluster-autoscaler"
        }
      }
    }]
    error_message = "only kube-system/cluster-autoscaler of this cluster may assume the role, through EKS Pod Identity"
  }
  assert {
    condition     = output.association == "kube-system/cluster-autoscaler"
    error_message = "the Pod Identity association binds the service account the trust names"
  }
  assert {
    condition = [for s in jsondecode(output.policy).Statement : s if s.Sid == "ScaleOnlyThisClustersGroups"] == [{
      Sid       = "ScaleOnlyThisClustersGroups"
      Effect    = "Allow"
      Action    = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
      Resource  = "*"
      Condition = { StringEquals = { "aws:ResourceTag/k8s.io/cluster-autoscaler/gpu-inference-test" = "owned" } }
    }]
    error_message = "scaling and terminating only Auto Scaling groups tagged as owned by this cluster"
  }
  assert {
    condition     = length(jsondecode(output.policy).Statement) == 3 && alltrue([for s in jsondecode(output.policy).Statement : s.Effect == "Allow"])
    error_message = "three statements: discover, scale this cluster's groups, read this cluster's node groups"
  }
}
