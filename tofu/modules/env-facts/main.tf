# Reads an env's facts, clusters/<env>/cluster-facts.yaml: the ConfigMap that Kustomize reads
# too, so cluster name, region, Kubernetes version, VPC range and GPU time-slicing are written
# once.
# The `facts` output checks them: a bad fact stops the plan, naming the file and the field.
# Also the env's chart versions, clusters/<env>/chart-versions.yaml, which Kustomize copies
# into the Applications and promotion copies between envs: the gitops stage installs Argo CD
# at the version the env pins, the one its self-managed Application then keeps.

locals {
  file     = "clusters/${basename(var.env_dir)}/cluster-facts.yaml"
  facts    = try(yamldecode(file("${var.env_dir}/cluster-facts.yaml")).data, {})
  required = ["env", "repoURL", "targetRevision", "clusterName", "region", "kubernetesVersion", "vpcCidr", "gpuTimeSlicingReplicas"]
  missing  = [for key in local.required : key if !can(tostring(local.facts[key]))]
  fact     = { for key in local.required : key => try(tostring(local.facts[key]), "") }
  replicas = try(tonumber(local.fact.gpuTimeSlicingReplicas), 0)
}

# What each fact may be: the schema that `python -m tools validate` checks the same file
# against (clusters/cluster-facts.schema.json), so tofu and the GitOps tools accept the same.
locals {
  allowed           = jsondecode(file("${path.module}/../../../clusters/cluster-facts.schema.json")).properties.data.properties
  unknown_facts     = setsubtract(keys(local.facts), keys(local.allowed))
  facts_not_strings = [for key, value in local.facts : key if try(value != tostring(value), true)]
  repo_secret       = try(tostring(local.facts.repoSecret), "")
}

locals {
  versions_file  = "clusters/${basename(var.env_dir)}/chart-versions.yaml"
  versions_path  = "${var.env_dir}/chart-versions.yaml"
  versions_read  = can(yamldecode(file(local.versions_path)).data)
  chart_versions = { for chart, version in try(yamldecode(file(local.versions_path)).data, {}) : chart => try(tostring(version), null) }
  not_strings    = [for chart, version in local.chart_versions : chart if version == null]
}
