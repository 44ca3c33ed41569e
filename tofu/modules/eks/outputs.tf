output "cluster_name" {
  description = "Name of the cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API server."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "kubernetes_version" {
  description = "Kubernetes minor version of the cluster."
  value       = aws_eks_cluster.this.version
}

output "gpu_node_template_gpus" {
  description = "nvidia.com/gpu that cluster-autoscaler expects per new GPU node."
  value       = tonumber(local.gpu_node_template["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"])
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "gpu_accelerator" {
  description = "k8s.amazonaws.com/accelerator of the GPU nodes, from the instance family."
  value       = local.accelerator
}

output "node_group_names" {
  description = "Generated names of the system and GPU node groups (prefixes system- and gpu-)."
  value       = { system = aws_eks_node_group.system.node_group_name, gpu = aws_eks_node_group.gpu.node_group_name }
}

output "ebs_csi_service_account" {
  description = "namespace/name of the EBS CSI driver's controller service account, bound to ebs_csi_role_arn."
  value       = "kube-system/${var.ebs_csi_service_account}"
}

output "gpu_taint" {
  description = "The GPU nodes' taint as Kubernetes writes it (key, value, effect): what GPU pods tolerate."
  value       = local.gpu_taint
}

output "gpu_labels" {
  description = "Labels of the GPU nodes (node.kubernetes.io/role, k8s.amazonaws.com/accelerator)."
  value       = local.gpu_labels
}
