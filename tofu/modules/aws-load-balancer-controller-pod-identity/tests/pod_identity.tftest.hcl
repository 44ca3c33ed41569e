mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/lbc" }
  }
}

variables {
  cluster_name = "gpu-inference-test"
}

run "the_controller_may_change_only_the_load_balancers_it_tagged" {
  command = apply

  assert {
    condition     = output.service_account == "kube-system/aws-load-balancer-controller"
    error_message = "bound to the chart's service account"
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
          "aws:RequestTag/kubernetes-service-account" = "aws-load-balancer-controller"
        }
      }
    }]
    error_message = "only kube-system/aws-load-balancer-controller of this cluster may assume the role, through EKS Pod Identity"
  }
  assert {
    condition     = output.association == "kube-system/aws-load-balancer-controller"
    error_message = "the Pod Identity association binds the service account the trust names"
  }
  assert {
    condition = alltrue([
      for s in jsondecode(output.policy).Statement : s.Condition["Null"]["aws:ResourceTag/elbv2.k8s.aws/cluster"] == "false"
      if s.Sid == "ModifyItsLoadBalancersAndTargetGroups" || s.Sid == "ManageItsSecurityGroupRules"
    ])
    error_message = "changes and deletions only on resources tagged elbv2.k8s.aws/cluster"
  }
  assert {
    condition     = length([for s in jsondecode(output.policy).Statement : s if s.Effect != "Allow"]) == 0 && length(distinct([for s in jsondecode(output.policy).Statement : s.Sid])) == length(jsondecode(output.policy).Statement)
    error_message = "allow statements, each with its own Sid"
  }
}
