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
    condition     = length(local.unknown_facts) == 0
    error_message = "${local.file}: data.${join(", data.", local.unknown_facts)}: not a known fact; allowed: ${join(", ", keys(local.allowed))}."
  }
  precondition {
    # ConfigMap data are strings: YAML reads an unquoted 1.30 as the number 1.3.
    condition     = length(local.facts_not_strings) == 0
    error_message = "${local.file}: data.${join(", data.", local.facts_not_strings)}: not a string; write the value in quotes, e.g. \"1.35\"."
  }
  precondition {
    condition     = contains(local.allowed.kubernetesVersion.enum, local.fact.kubernetesVersion)
    error_message = "${local.file}: data.kubernetesVersion \"${local.fact.kubernetesVersion}\" is not allowed; allowed: ${local.allowed.kubernetesVersion.description} (one of: ${join(", ", local.allowed.kubernetesVersion.enum)})."
  }
  precondition {
    # Argo CD reads an SSH URL only with a repository secret, which docs/gitops.md creates.
    condition     = can(regex(local.allowed.repoURL.pattern, local.fact.repoURL)) && (startswith(local.fact.repoURL, "https://") || local.repo_secret != "")
    error_message = "${local.file}: data.repoURL \"${local.fact.repoURL}\" is not allowed; allowed: ${local.allowed.repoURL.description}."
  }
  precondition {
    # IAM role names are limited to 64 characters and are "<clusterName>-<purpose>".
    condition     = can(regex(local.allowed.clusterName.pattern, local.fact.clusterName)) && length(local.fact.clusterName) <= local.allowed.clusterName.maxLength
    error_message = "${local.file}: data.clusterName \"${local.fact.clusterName}\" is not allowed; allowed: ${local.allowed.clusterName.description}."
  }
  precondition {
    condition     = contains(local.allowed.region.enum, local.fact.region)
    error_message = "${local.file}: data.region \"${local.fact.region}\" is not allowed; allowed: ${local.allowed.region.description}."
  }
  precondition {
    # The network module carves its subnets out of a /16 to /20.
    condition     = can(cidrhost(local.fact.vpcCidr, 0)) && contains(["16", "17", "18", "19", "20"], try(split("/", local.fact.vpcCidr)[1], ""))
    error_message = "${local.file}: data.vpcCidr \"${local.fact.vpcCidr}\" must be an IPv4 range from /16 to /20, e.g. 10.10.0.0/16."
  }
  precondition {
    condition     = can(regex(local.allowed.gpuTimeSlicingReplicas.pattern, local.fact.gpuTimeSlicingReplicas))
    error_message = "${local.file}: data.gpuTimeSlicingReplicas \"${local.fact.gpuTimeSlicingReplicas}\" is not allowed; allowed: ${local.allowed.gpuTimeSlicingReplicas.description}."
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
