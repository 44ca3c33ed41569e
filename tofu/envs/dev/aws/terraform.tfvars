# dev: values that are not cluster facts (those are in clusters/dev/cluster-facts.yaml).
nat_gateway_per_az   = false
public_access_cidrs  = ["203.0.113.0/24"]
admin_principal_arns = ["arn:aws:iam::111122223333:role/platform-admin"]
gpu_node_max         = 2
github_repository    = "example-org/gpu-inference-gitops"
# One GitHub OIDC provider per AWS account: only the first env of an account creates it.
create_github_oidc_provider = true
