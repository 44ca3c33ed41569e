mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
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
  mock_resource "aws_eks_cluster" {
    defaults = {
      certificate_authority = [{ data = "Y2E=" }]
      endpoint              = "https://example.eks.amazonaws.com"
    }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  mock_resource "aws_eks_node_group" {
    defaults = {
      resources = [{ autoscaling_groups = [{ name = "eks-gpu-asg" }], remote_access_security_group_id = "" }]
    }
  }
}

variables {
  cluster_name              = "gpu-inference-test"
  vpc_id                    = "vpc-123"
  private_subnet_ids        = ["subnet-a", "subnet-b", "subnet-c"]
  public_access_cidrs       = ["203.0.113.0/24"]
  admin_principal_arns      = ["arn:aws:iam::111122223333:role/platform-admin"]
  gpu_time_slicing_replicas = 4
  ebs_csi_role_arn          = "arn:aws:iam::111122223333:role/gpu-inference-test-ebs-csi-driver"
}

run "the_gpu_node_group_scales_from_zero_with_taint_and_node_template_tags" {
  command = apply

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].min_size == 0 && aws_eks_node_group.gpu.ami_type == "AL2023_x86_64_NVIDIA"
    error_message = "GPU nodes: min 0, NVIDIA AMI"
  }
  assert {
    condition     = one(aws_eks_node_group.gpu.taint).key == "nvidia.com/gpu" && one(aws_eks_node_group.gpu.taint).value == "true" && one(aws_eks_node_group.gpu.taint).effect == "NO_SCHEDULE"
    error_message = "GPU nodes carry nvidia.com/gpu=true:NoSchedule"
  }
  assert {
    condition     = output.gpu_taint == { key = one(aws_eks_node_group.gpu.taint).key, value = one(aws_eks_node_group.gpu.taint).value, effect = "NoSchedule" }
    error_message = "the gpu_taint output (what GPU pods tolerate) is the node group's taint"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/node-template/taint/${output.gpu_taint.key}"].tag[0].value == "${output.gpu_taint.value}:${output.gpu_taint.effect}"
    error_message = "the node-template taint tag is the node group's taint, so a scale-up from zero plans for it"
  }
  assert {
    condition     = alltrue([for k, v in output.gpu_labels : aws_eks_node_group.gpu.labels[k] == v && aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/node-template/label/${k}"].tag[0].value == v]) && length(aws_eks_node_group.gpu.labels) == length(output.gpu_labels)
    error_message = "every label of the GPU nodes is a node-template tag with the same value"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"].tag[0].value == "4"
    error_message = "1 GPU x 4 time-slicing replicas = 4 nvidia.com/gpu advertised to cluster-autoscaler"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"].tag[0].value == "true:NoSchedule"
    error_message = "the node template carries the taint"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/gpu-inference-test"].tag[0].value == "owned"
    error_message = "auto-discovery tag on the GPU Auto Scaling group"
  }
  assert {
    condition     = aws_eks_node_group.gpu.labels["k8s.amazonaws.com/accelerator"] == "nvidia-tesla-t4"
    error_message = "g4dn nodes are labelled k8s.amazonaws.com/accelerator=nvidia-tesla-t4"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"].tag[0].value == "nvidia-tesla-t4"
    error_message = "the accelerator label is a node-template tag too, so a scale-up from zero knows it"
  }
  assert {
    condition     = aws_eks_node_group.gpu.node_repair_config[0].enabled && aws_eks_node_group.system.node_repair_config[0].enabled
    error_message = "node auto-repair is on"
  }
  assert {
    condition     = output.gpu_node_template_gpus == 4
    error_message = "output agrees with the tags"
  }
}

run "nodes_require_imdsv2_and_encrypted_root_volumes_sized_for_the_image" {
  command = plan

  assert {
    condition     = alltrue([for lt in aws_launch_template.node : lt.metadata_options[0].http_tokens == "required" && lt.metadata_options[0].http_put_response_hop_limit == 1 && lt.metadata_options[0].http_endpoint == "enabled"]) && length(aws_launch_template.node) == 2
    error_message = "IMDSv2 required, hop limit 1, on both node groups' launch templates"
  }
  assert {
    condition     = aws_launch_template.node["gpu"].block_device_mappings[0].ebs[0].encrypted == "true" && aws_launch_template.node["gpu"].block_device_mappings[0].ebs[0].volume_size == 100
    error_message = "GPU root volume encrypted, 100 GiB"
  }
  assert {
    condition     = aws_eks_node_group.system.scaling_config[0].min_size == 2 && aws_eks_node_group.system.capacity_type == "ON_DEMAND"
    error_message = "system nodes: on-demand, at least 2"
  }
}

run "keys_and_roles_trust_exactly_whom_they_must" {
  command = plan

  assert {
    condition = jsondecode(aws_kms_key.secrets.policy).Statement == [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::111122223333:root" }
      Action    = "kms:*"
      Resource  = "*"
    }] && aws_kms_key.secrets.enable_key_rotation
    error_message = "the secrets key: administered by this account only (IAM policies decide who uses it), rotated"
  }
  assert {
    condition = jsondecode(aws_iam_role.cluster.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
    error_message = "the cluster role is assumed by EKS only"
  }
  assert {
    condition = jsondecode(aws_iam_role.node.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
    error_message = "the node role is assumed by EC2 instances only"
  }
}

run "the_api_is_private_plus_a_public_endpoint_limited_to_the_given_cidrs" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access && tolist(aws_eks_cluster.this.vpc_config[0].public_access_cidrs) == tolist(["203.0.113.0/24"])
    error_message = "private endpoint on, public endpoint limited to the CIDR list"
  }
  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API" && length(aws_eks_access_entry.admin) == 1
    error_message = "access entries for the admins"
  }
  assert {
    condition     = length(aws_eks_cluster.this.encryption_config) == 1 && length(aws_eks_cluster.this.enabled_cluster_log_types) == 5
    error_message = "secrets encrypted with KMS, all control-plane logs on"
  }
  assert {
    condition     = toset(keys(aws_eks_addon.before_nodes)) == toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent"]) && aws_eks_addon.coredns.addon_version == "v1.0.0-eksbuild.1"
    error_message = "vpc-cni, kube-proxy and the Pod Identity agent come before the nodes, coredns after; AWS's default versions unless pinned"
  }
  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "STANDARD"
    error_message = "standard support by default: no silent move to extended support (about 6x the price)"
  }
}

run "network_policies_are_enforced_and_volumes_come_from_the_ebs_csi_driver" {
  command = plan

  assert {
    condition     = jsondecode(aws_eks_addon.before_nodes["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "the VPC CNI enforces NetworkPolicies"
  }
  assert {
    condition     = one(aws_eks_addon.ebs_csi_driver.pod_identity_association).role_arn == "arn:aws:iam::111122223333:role/gpu-inference-test-ebs-csi-driver" && "kube-system/${one(aws_eks_addon.ebs_csi_driver.pod_identity_association).service_account}" == output.ebs_csi_service_account
    error_message = "the EBS CSI driver's controller gets its role through Pod Identity"
  }
}

run "a_pinned_addon_version_wins" {
  command = plan

  variables {
    addon_versions = { "vpc-cni" = "v1.21.0-eksbuild.2" }
  }
  assert {
    condition     = aws_eks_addon.before_nodes["vpc-cni"].addon_version == "v1.21.0-eksbuild.2"
    error_message = "addon_versions pins a version"
  }
}

run "a_bad_endpoint_cidr_is_rejected" {
  command = plan

  variables {
    public_access_cidrs = ["203.0.113.0/33"]
  }
  expect_failures = [var.public_access_cidrs]
}

run "an_open_endpoint_is_rejected" {
  command = plan

  variables {
    public_access_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.public_access_cidrs]
}

run "an_unsupported_kubernetes_version_is_rejected" {
  command = plan

  variables {
    kubernetes_version = "1.27"
  }
  expect_failures = [var.kubernetes_version]
}

run "an_empty_admin_list_is_rejected" {
  command = plan

  variables {
    admin_principal_arns = []
  }
  expect_failures = [var.admin_principal_arns]
}

run "node_groups_follow_the_cluster_version_and_are_replaced_under_new_names" {
  command = apply

  assert {
    condition     = aws_eks_node_group.system.version == aws_eks_cluster.this.version && aws_eks_node_group.gpu.version == aws_eks_cluster.this.version && aws_eks_cluster.this.version == "1.35"
    error_message = "both node groups run the cluster's Kubernetes version"
  }
  assert {
    condition     = aws_eks_node_group.system.node_group_name_prefix == "system-" && aws_eks_node_group.gpu.node_group_name_prefix == "gpu-"
    error_message = "node groups have name prefixes, so a replacement can exist beside the group it replaces (create_before_destroy)"
  }
}

run "nodes_pull_images_only_and_can_be_reached_through_ssm" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.node)) == toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"])
    error_message = "node role: worker, CNI, ECR pull-only and SSM core policies, nothing else"
  }
}

run "extended_support_is_a_choice" {
  command = plan

  variables {
    support_type = "EXTENDED"
  }
  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "EXTENDED"
    error_message = "support_type reaches the cluster's upgrade policy"
  }
}

run "an_unknown_support_type_is_rejected" {
  command = plan

  variables {
    support_type = "FOREVER"
  }
  expect_failures = [var.support_type]
}

run "the_accelerator_label_follows_the_instance_family" {
  command = plan

  variables {
    gpu_instance_type = "g6e.2xlarge"
  }
  assert {
    condition     = aws_eks_node_group.gpu.labels["k8s.amazonaws.com/accelerator"] == "nvidia-l40s" && output.gpu_accelerator == "nvidia-l40s"
    error_message = "g6e nodes carry nvidia-l40s"
  }
}

run "a_gpu_family_without_a_known_accelerator_stops_the_plan" {
  command = plan

  variables {
    gpu_instance_type = "g3.4xlarge"
  }
  expect_failures = [aws_eks_node_group.gpu]
}

run "a_cluster_name_longer_than_32_characters_is_rejected" {
  command = plan

  variables {
    cluster_name = "a-cluster-name-of-thirty-three-ch"
  }
  expect_failures = [var.cluster_name]
}
