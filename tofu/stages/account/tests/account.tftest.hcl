mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-1:111122223333:repository/model-server"
      repository_url = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/model-server"
    }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/model-server-github-push" }
  }
}

variables {
  region            = "eu-west-1"
  github_repository = "example-org/gpu-inference-gitops"
}

run "one_registry_and_one_push_role_serve_every_env_of_the_account" {
  command = apply

  assert {
    condition     = output.ecr_repository_url == "111122223333.dkr.ecr.eu-west-1.amazonaws.com/model-server"
    error_message = "the registry's URL is an output (the overlays' images.newName)"
  }
  assert {
    condition = module.github_push_role.role_arn == output.github_push_role_arn && output.github_push_subjects == [
      "repo:example-org/gpu-inference-gitops:ref:refs/heads/main",
      "repo:example-org/gpu-inference-gitops:environment:dev",
    ]
    error_message = "CI pushes from this repository's main branch and from its GitHub environment dev (the image build's job) only"
  }
  assert {
    condition     = module.ecr.pull_policy == null
    error_message = "all envs in this account: no cross-account pull policy"
  }
}

run "envs_in_other_accounts_get_pull_access" {
  command = plan

  variables {
    pull_account_ids = ["444455556666"]
  }
  assert {
    condition     = jsondecode(module.ecr.pull_policy).Statement[0].Principal.AWS == ["arn:aws:iam::444455556666:root"]
    error_message = "pull_account_ids reaches the registry's pull policy"
  }
}
