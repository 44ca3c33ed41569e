output "facts" {
  description = "The env's facts: env, cluster_name, region, kubernetes_version, vpc_cidr, gpu_time_slicing_replicas, repo_url, target_revision."
  value = {
    env                       = local.fact.env
    cluster_name              = local.fact.clusterName
    region                    = local.fact.region
    kubernetes_version        = local.fact.kubernetesVersion
    vpc_cidr                  = local.fact.vpcCidr
    gpu_time_slicing_replicas = local.replicas
    repo_url                  = local.fact.repoURL
    target_revision           = local.fact.targetRevision
  }

  precondition {
    condition     = length(local.missing) == 0
    error_message = "${local.file}: data.${join(", data.", local.missing)} missing or not a string."
  }
  precondition {
    condition     = local.fact.env == basename(var.env_dir)
    error_message = "${local.file}: data.env is \"${local.fact.env}\"; it must be \"${basename(var.env_dir)}\", the name of its folder."
  }
  precondition {
    # IAM role names are limited to 64 characters and are "<clusterName>-<purpose>".
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", local.fact.clusterName)) && length(local.fact.clusterName) <= 32
    error_message = "${local.file}: data.clusterName \"${local.fact.clusterName}\" must be 2-32 lowercase letters, digits or dashes, starting with a letter and ending with a letter or digit."
  }
  precondition {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", local.fact.region))
    error_message = "${local.file}: data.region \"${local.fact.region}\" is not an AWS region name such as eu-west-1."
  }
  precondition {
    # The network module carves its subnets out of a /16 to /20.
    condition     = can(cidrhost(local.fact.vpcCidr, 0)) && contains(["16", "17", "18", "19", "20"], try(split("/", local.fact.vpcCidr)[1], ""))
    error_message = "${local.file}: data.vpcCidr \"${local.fact.vpcCidr}\" must be an IPv4 range from /16 to /20, e.g. 10.10.0.0/16."
  }
  precondition {
    condition     = local.replicas >= 1 && floor(local.replicas) == local.replicas
    error_message = "${local.file}: data.gpuTimeSlicingReplicas \"${local.fact.gpuTimeSlicingReplicas}\" must be a positive whole number (quoted, e.g. \"2\")."
  }
}

output "chart_versions" {
  description = "chart -> version, as the env pins them in clusters/<env>/chart-versions.yaml (data)."
  value       = local.chart_versions

  precondition {
    condition     = local.versions_read && length(local.chart_versions) > 0
    error_message = "${local.versions_file}: missing, or its data lists no chart (every env pins its chart versions there; copy clusters/dev's)."
  }
  precondition {
    condition     = length(local.not_strings) == 0
    error_message = "${local.versions_file}: data.${join(", data.", local.not_strings)} must be a version string, e.g. \"10.1.1\"."
  }
}
