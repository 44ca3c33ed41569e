mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/test" }
  }
}

variables {
  cluster_name    = "gpu-inference-test"
  name            = "some-addon"
  namespace       = "kube-system"
  service_account = "some-addon"
  policy_json     = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
}

run "only_this_clusters_service_account_may_assume_the_role" {
  command = apply

  assert {
    condition     = jsondecode(output.trust_policy).Statement[0].Principal == { Service = "pods.eks.amazonaws.com" }
    error_message = "trusted by EKS Pod Identity only"
  }
  assert {
    condition     = toset(jsondecode(output.trust_policy).Statement[0].Action) == toset(["sts:AssumeRole", "sts:TagSession"])
    error_message = "Pod Identity assumes with session tags"
  }
  assert {
    condition = jsondecode(output.trust_policy).Statement[0].Condition == {
      StringEquals = {
        "aws:RequestTag/eks-cluster-name"           = "gpu-inference-test"
        "aws:RequestTag/kubernetes-namespace"       = "kube-system"
        "aws:RequestTag/kubernetes-service-account" = "some-addon"
      }
    }
    error_message = "the trust is limited to this cluster, namespace and service account"
  }
  assert {
    condition     = output.role_name == "gpu-inference-test-some-addon" && length(aws_iam_role_policy.this) == 1
    error_message = "role named after the cluster and the add-on, with its inline policy"
  }
  assert {
    condition     = aws_eks_pod_identity_association.this[0].namespace == "kube-system" && aws_eks_pod_identity_association.this[0].service_account == "some-addon" && aws_eks_pod_identity_association.this[0].cluster_name == "gpu-inference-test"
    error_message = "bound to kube-system/some-addon of this cluster"
  }
}

run "an_addon_binds_its_own_service_account" {
  command = plan

  variables {
    association         = "addon"
    policy_json         = null
    managed_policy_arns = ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
  }
  assert {
    condition     = length(aws_eks_pod_identity_association.this) == 0 && length(aws_iam_role_policy.this) == 0 && length(aws_iam_role_policy_attachment.managed) == 1
    error_message = "no association of its own, a managed policy and no inline one"
  }
}

run "an_unknown_binding_is_rejected" {
  command = plan

  variables {
    association = "irsa"
  }
  expect_failures = [var.association]
}
