# dev's AWS stage (tofu/stages/cluster): sizing and access. The facts that the GitOps side
# reads too (cluster name, region, Kubernetes version, time-slicing) are in cluster-facts.yaml.
# Every input, with its default: tofu/stages/cluster/variables.tf.
public_access_cidrs  = ["203.0.113.0/24"]
admin_principal_arns = ["arn:aws:iam::111122223333:role/platform-admin"]
nat_gateway_per_az   = false
gpu_node_max         = 2
