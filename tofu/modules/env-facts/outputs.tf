output "facts" {
  description = "The env's facts: env, cluster_name, region, kubernetes_version, gpu_time_slicing_replicas, repo_url, target_revision."
  value = {
    env                       = local.fact.env
    cluster_name              = local.fact.clusterName
    region                    = local.fact.region
    kubernetes_version        = local.fact.kubernetesVersion
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
    condition     = can(regex(local.allowed.gpuTimeSlicingReplicas.pattern, local.fact.gpuTimeSlicingReplicas))
    error_message = "${local.file}: data.gpuTimeSlicingReplicas \"${local.fact.gpuTimeSlicingReplicas}\" is not allowed; allowed: ${local.allowed.gpuTimeSlicingReplicas.description}."
  }
}
