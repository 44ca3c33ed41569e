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
