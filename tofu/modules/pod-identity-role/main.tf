# An IAM role that EKS Pod Identity hands to one service account of one cluster: the binding
# is made on the AWS side (namespace + service account), so no role ARN goes into Git.

locals {
  associate = var.association == "module"
}

resource "aws_iam_role" "this" {
  name = "${var.cluster_name}-${var.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        # Pod Identity passes these as session tags: only this service account of this
        # cluster may assume the role, whatever other associations the cluster has.
        StringEquals = {
          "aws:RequestTag/eks-cluster-name"           = var.cluster_name
          "aws:RequestTag/kubernetes-namespace"       = var.namespace
          "aws:RequestTag/kubernetes-service-account" = var.service_account
        }
      }
    }]
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = length("${var.cluster_name}-${var.name}") <= 64
      error_message = "The role name ${var.cluster_name}-${var.name} is longer than IAM's 64 characters: shorten the cluster name (clusterName in clusters/<env>/cluster-facts.yaml)."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  count = var.policy_json == null ? 0 : 1

  name   = var.name
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = toset(var.managed_policy_arns)

  role       = aws_iam_role.this.name
  policy_arn = each.value
}

resource "aws_eks_pod_identity_association" "this" {
  count = local.associate ? 1 : 0

  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.this.arn
  tags            = var.tags
}
