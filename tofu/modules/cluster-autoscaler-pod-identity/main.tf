# cluster-autoscaler's AWS permissions through EKS Pod Identity: the role is bound to a
# namespace and service account on the AWS side, so no role ARN is written into Git.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  owned_tag = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
  nodegroup_arn = join(":", [
    "arn", data.aws_partition.current.partition, "eks", data.aws_region.current.name,
    data.aws_caller_identity.current.account_id, "nodegroup/${var.cluster_name}/*",
  ])
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Discover"
        Effect = "Allow"
        # Describe calls have no resource-level permissions.
        Action = [
          "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = "*"
      },
      {
        Sid      = "ScaleOnlyThisClustersGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = "*"
        Condition = {
          StringEquals = { (local.owned_tag) = "owned" }
        }
      },
      {
        # Labels and taints of an empty node group, for scale from zero.
        Sid      = "ReadThisClustersNodeGroups"
        Effect   = "Allow"
        Action   = "eks:DescribeNodegroup"
        Resource = local.nodegroup_arn
      },
    ]
  })
}

module "role" {
  source          = "../pod-identity-role"
  cluster_name    = var.cluster_name
  name            = "cluster-autoscaler"
  namespace       = var.namespace
  service_account = var.service_account
  policy_json     = local.policy
  tags            = var.tags
}
