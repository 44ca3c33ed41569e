# Reads an env's facts, clusters/<env>/cluster-facts.yaml: the ConfigMap that Kustomize reads
# too, so cluster name, region, Kubernetes version and GPU time-slicing are written once.
# The `facts` output checks them: a bad fact stops the plan, naming the file and the field.

locals {
  file     = "clusters/${basename(var.env_dir)}/cluster-facts.yaml"
  facts    = try(yamldecode(file("${var.env_dir}/cluster-facts.yaml")).data, {})
  required = ["env", "repoURL", "targetRevision", "clusterName", "region", "kubernetesVersion", "gpuTimeSlicingReplicas"]
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
