output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "region" {
  description = "AWS region."
  value       = local.facts.region
}

output "kubernetes_version" {
  description = "Kubernetes version of the control plane; the node groups follow it."
  value       = module.eks.kubernetes_version
}

output "gpu_node_template_gpus" {
  description = "nvidia.com/gpu advertised to cluster-autoscaler per new GPU node."
  value       = module.eks.gpu_node_template_gpus
}

output "gpu_accelerator" {
  description = "k8s.amazonaws.com/accelerator of the GPU nodes."
  value       = module.eks.gpu_accelerator
}

output "node_role_arn" {
  description = "IAM role of the nodes (a registry in another account lets it pull: pull_account_ids)."
  value       = module.eks.node_role_arn
}

output "kubeconfig_command" {
  description = "How to point kubectl at the cluster."
  value       = "aws eks update-kubeconfig --region ${local.facts.region} --name ${module.eks.cluster_name}"
}

output "vpc_cidr" {
  description = "The VPC's range (vpcCidr in the facts): the app's NetworkPolicy admits its load balancer from there."
  value       = module.network.vpc_cidr
}

output "pod_identity" {
  description = "namespace/service account each add-on role is bound to (what the charts in platform/ name)."
  value = {
    cluster-autoscaler           = module.cluster_autoscaler.service_account
    aws-load-balancer-controller = module.aws_load_balancer_controller.service_account
    aws-ebs-csi-driver           = module.eks.ebs_csi_service_account
  }
}
