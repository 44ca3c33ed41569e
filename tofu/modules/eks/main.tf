# EKS with API-only authentication (access entries), KMS-encrypted secrets, control-plane
# logs, the core add-ons and the EBS CSI driver, a CPU system node group and a GPU node group
# that scales from zero (AL2023 NVIDIA AMI: driver and container toolkit preinstalled).
#
# Order, on create and (reversed) on destroy: cluster -> vpc-cni, kube-proxy, Pod Identity
# agent -> node groups -> coredns, EBS CSI driver. Nodes never start without a CNI, and
# destroy drains the nodes before it removes the CNI.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition   = data.aws_partition.current.partition
  policy_base = "arn:${local.partition}:iam::aws:policy"
  # The GPU nodes' taint as Kubernetes writes it: pods that tolerate it (apps/swin-t, the GPU
  # Operator's operands) and the node-template tag read it from here (tests/test_contracts_sources.py).
  gpu_taint = { key = "nvidia.com/gpu", value = "true", effect = "NoSchedule" }
  # The EKS API spells taint effects differently.
  eks_taint_effect = { NoSchedule = "NO_SCHEDULE", PreferNoSchedule = "PREFER_NO_SCHEDULE", NoExecute = "NO_EXECUTE" }

  # cluster-autoscaler treats a node labelled k8s.amazonaws.com/accelerator as a GPU node that
  # is not ready until its GPUs are advertised; without the label it scales out again while
  # the device plugin starts ("Special note on GPU instances" in its AWS README).
  accelerator_by_family = {
    g4dn = "nvidia-tesla-t4"
    g5   = "nvidia-a10g"
    g6   = "nvidia-l4"
    g6e  = "nvidia-l40s"
    p4d  = "nvidia-tesla-a100"
    p5   = "nvidia-h100"
  }
  gpu_family  = split(".", var.gpu_instance_type)[0]
  accelerator = lookup(local.accelerator_by_family, local.gpu_family, null)
  gpu_labels = {
    "node.kubernetes.io/role"       = "gpu"
    "k8s.amazonaws.com/accelerator" = local.accelerator
  }

  # What cluster-autoscaler must assume about a GPU node it has not seen yet (scale from zero).
  gpu_node_template = merge(
    { "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" = tostring(var.gpus_per_node * var.gpu_time_slicing_replicas) },
    { for k, v in local.gpu_labels : "k8s.io/cluster-autoscaler/node-template/label/${k}" => v },
    { "k8s.io/cluster-autoscaler/node-template/taint/${local.gpu_taint.key}" = "${local.gpu_taint.value}:${local.gpu_taint.effect}" },
  )
  autoscaler_discovery = {
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  }
  # Add-ons the nodes need to join and run pods, created before them; coredns needs nodes.
  addons_before_nodes = toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent"])
  addons              = setunion(local.addons_before_nodes, ["coredns", "aws-ebs-csi-driver"])
  addon_configuration = {
    # The VPC CNI's network policy agent enforces NetworkPolicies (without it they are
    # accepted by the API server and do nothing).
    vpc-cni = jsonencode({ enableNetworkPolicy = "true" })
  }
}

# --- control plane -----------------------------------------------------------------------

resource "aws_kms_key" "secrets" {
  description         = "${var.cluster_name} Kubernetes secrets"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.cluster_name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

module "logs" {
  # EKS writes here; created first so that retention and encryption are ours.
  source            = "../encrypted-log-group"
  name              = "/aws/eks/${var.cluster_name}/cluster"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "cluster" {
  name = "${var.cluster_name}-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "${local.policy_base}/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_39:tofu and kubectl run from outside the VPC; the public endpoint only admits public_access_cidrs, which may not be 0.0.0.0/0
  #checkov:skip=CKV_AWS_38:public_access_cidrs comes from each env's cluster.tfvars, which checkov does not read; its validation rejects 0.0.0.0/0 (tests/eks.tftest.hcl an_open_endpoint_is_rejected)
  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids              = var.private_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = true
    public_access_cidrs     = var.public_access_cidrs
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.secrets.arn
    }
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  # STANDARD: when standard support of the version ends, EKS upgrades the cluster instead of
  # moving it to extended support, which is billed at about six times the hourly price.
  upgrade_policy {
    support_type = var.support_type
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.cluster, module.logs]
}

resource "aws_eks_access_entry" "admin" {
  for_each      = toset(var.admin_principal_arns)
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each      = toset(var.admin_principal_arns)
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.value].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# --- add-ons -----------------------------------------------------------------------------

# AWS's default add-on version for this Kubernetes version, unless addon_versions pins one.
data "aws_eks_addon_version" "default" {
  for_each           = local.addons
  addon_name         = each.value
  kubernetes_version = var.kubernetes_version
  most_recent        = false
}

# DaemonSets that a node needs before it can run pods.
resource "aws_eks_addon" "before_nodes" {
  for_each = local.addons_before_nodes

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  addon_version               = lookup(var.addon_versions, each.value, data.aws_eks_addon_version.default[each.value].version)
  configuration_values        = lookup(local.addon_configuration, each.value, null)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  tags                        = var.tags
}

# coredns is a Deployment: it needs the system nodes to become ready.
resource "aws_eks_addon" "coredns" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "coredns"
  addon_version               = lookup(var.addon_versions, "coredns", data.aws_eks_addon_version.default["coredns"].version)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  tags                        = var.tags

  depends_on = [aws_eks_node_group.system]
}

# Volumes for the PersistentVolumeClaims (Prometheus, Alertmanager, Grafana; the StorageClass is
# platform/storage in Git). Its controller is a Deployment: it needs the system nodes too. Its
# IAM role comes through Pod Identity (ebs_csi_role_arn, module pod-identity-role).
resource "aws_eks_addon" "ebs_csi_driver" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-ebs-csi-driver"
  addon_version               = lookup(var.addon_versions, "aws-ebs-csi-driver", data.aws_eks_addon_version.default["aws-ebs-csi-driver"].version)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  tags                        = var.tags

  pod_identity_association {
    role_arn        = var.ebs_csi_role_arn
    service_account = var.ebs_csi_service_account
  }

  depends_on = [aws_eks_node_group.system]
}

# --- nodes -------------------------------------------------------------------------------

resource "aws_iam_role" "node" {
  name = "${var.cluster_name}-node"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  # PullOnly: nodes pull images and nothing else; SSM core: a shell on a node without SSH.
  for_each   = toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"])
  role       = aws_iam_role.node.name
  policy_arn = "${local.policy_base}/${each.value}"
}

resource "aws_launch_template" "node" {
  for_each = { system = var.system_volume_gib, gpu = var.gpu_volume_gib }

  name_prefix = "${var.cluster_name}-${each.key}-"

  # IMDSv2 only, and one hop: pods cannot reach the node's credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }

  tags = var.tags
}

# Node groups follow the cluster's Kubernetes version. Their names are prefixes and they are
# replaced create-before-destroy: a change that forces a new group (instance types, AMI
# type, subnets) brings the new nodes up before the old ones drain, so the system pods
# (coredns, Argo CD, cluster-autoscaler) always have somewhere to run.
resource "aws_eks_node_group" "system" {
  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "system-"
  version                = aws_eks_cluster.this.version
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = var.private_subnet_ids
  ami_type               = "AL2023_x86_64_STANDARD"
  capacity_type          = "ON_DEMAND"
  instance_types         = var.system_instance_types

  scaling_config {
    min_size     = var.system_node_count.min
    desired_size = var.system_node_count.desired
    max_size     = var.system_node_count.max
  }

  # Rolling version upgrades replace one node at a time.
  update_config {
    max_unavailable = 1
  }

  node_repair_config {
    enabled = var.node_auto_repair
  }

  launch_template {
    id      = aws_launch_template.node["system"].id
    version = aws_launch_template.node["system"].latest_version
  }

  labels = { "node.kubernetes.io/role" = "system" }
  tags   = var.tags

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.before_nodes]
}

resource "aws_eks_node_group" "gpu" {
  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "gpu-"
  version                = aws_eks_cluster.this.version
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = var.private_subnet_ids
  ami_type               = "AL2023_x86_64_NVIDIA"
  capacity_type          = "ON_DEMAND"
  instance_types         = [var.gpu_instance_type]

  scaling_config {
    min_size     = 0
    desired_size = 0
    max_size     = var.gpu_node_max
  }

  update_config {
    max_unavailable = 1
  }

  # EKS replaces GPU nodes whose GPUs or kubelet turn unhealthy.
  node_repair_config {
    enabled = var.node_auto_repair
  }

  launch_template {
    id      = aws_launch_template.node["gpu"].id
    version = aws_launch_template.node["gpu"].latest_version
  }

  labels = local.gpu_labels

  taint {
    key    = local.gpu_taint.key
    value  = local.gpu_taint.value
    effect = local.eks_taint_effect[local.gpu_taint.effect]
  }

  tags = merge(var.tags, local.autoscaler_discovery, local.gpu_node_template)

  lifecycle {
    create_before_destroy = true
    # cluster-autoscaler owns the desired size.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = local.accelerator != null
      error_message = "gpu_instance_type ${var.gpu_instance_type}: unknown GPU family \"${local.gpu_family}\" (known: ${join(", ", sort(keys(local.accelerator_by_family)))}). Add its k8s.amazonaws.com/accelerator value to accelerator_by_family in tofu/modules/eks/main.tf."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.before_nodes]
}

# Managed node groups do not copy their tags to the Auto Scaling group, where
# cluster-autoscaler reads them: copy the discovery and node-template tags there.
resource "aws_autoscaling_group_tag" "gpu" {
  for_each = merge(local.autoscaler_discovery, local.gpu_node_template)

  autoscaling_group_name = aws_eks_node_group.gpu.resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}

resource "aws_autoscaling_group_tag" "system" {
  for_each = local.autoscaler_discovery

  autoscaling_group_name = aws_eks_node_group.system.resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}
