# The account layer: what every env in an AWS account shares, applied once per account before
# any env (make deploy-account ACCOUNT=<name>; inputs in clusters/accounts/<name>/). The
# model-server registry is one for all envs, so promotion moves a tag and never copies an
# image; CI pushes to it through the GitHub OIDC role. Envs in other accounts pull from it
# (pull_account_ids).

provider "aws" {
  region = var.region

  default_tags {
    tags = { "app.kubernetes.io/part-of" = "gpu-inference", layer = "account" }
  }
}

module "ecr" {
  source           = "../../modules/ecr"
  repository_name  = var.repository_name
  pull_account_ids = var.pull_account_ids
}

module "github_push_role" {
  source               = "../../modules/github-push-role"
  github_repository    = var.github_repository
  github_environments  = var.github_environments
  create_oidc_provider = var.create_github_oidc_provider
  role_name            = "${replace(var.repository_name, "/", "-")}-github-push"
  repository_arns      = [module.ecr.repository_arn]
}
