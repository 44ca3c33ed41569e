# The account layer (tofu/stages/account), applied once per AWS account before its envs:
# make deploy-account ACCOUNT=shared. Not an env: it has no cluster-facts.yaml.
# Every input, with its default: tofu/stages/account/variables.tf.
region            = "eu-west-1"
github_repository = "example-org/gpu-inference-gitops"
# Jobs on main may push, and jobs in these GitHub environments: a job that names an
# environment presents repo:OWNER/NAME:environment:NAME instead of its branch. The job that
# pushes images (.github/workflows/build-image.yaml, job build) runs in `dev`; a test checks
# that every job assuming the role is trusted.
github_environments = ["dev"]
# false if the account already has the GitHub OIDC provider (one per account).
create_github_oidc_provider = true
# One account per env: the IDs of the env accounts whose nodes pull from this registry.
pull_account_ids = []
