mock_provider "aws" {
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/existing" }
  }
}

variables {
  github_repository = "example-org/gpu-inference-gitops"
  repository_arns   = ["arn:aws:ecr:eu-west-1:111122223333:repository/model-server"]
}

run "only_main_of_this_repository_may_push_by_default" {
  command = apply

  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:example-org/gpu-inference-gitops:ref:refs/heads/main"]
    error_message = "the role trusts that repository's main branch and nothing else"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "tokens must be meant for STS"
  }
  assert {
    condition     = length(jsondecode(aws_iam_role.this.assume_role_policy).Statement) == 1 && jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Effect == "Allow" && jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" && keys(jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Condition) == ["StringEquals"]
    error_message = "one statement: web identity through OIDC, its conditions compared exactly (StringEquals, no wildcards)"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.github[0].arn
    error_message = "federated through the GitHub OIDC provider this module creates"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.push.policy).Statement[1].Resource == ["arn:aws:ecr:eu-west-1:111122223333:repository/model-server"]
    error_message = "pushes are limited to the given repositories"
  }
}

run "named_github_environments_may_push_too" {
  command = apply

  variables {
    github_environments = ["dev", "release"]
  }
  assert {
    condition = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == [
      "repo:example-org/gpu-inference-gitops:ref:refs/heads/main",
      "repo:example-org/gpu-inference-gitops:environment:dev",
      "repo:example-org/gpu-inference-gitops:environment:release",
    ]
    error_message = "main plus exactly the named environments, compared with StringEquals (no wildcards)"
  }
}

run "an_account_that_has_the_oidc_provider_already_reuses_it" {
  command = apply

  variables {
    create_oidc_provider = false
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && output.oidc_provider_arn == "arn:aws:iam::111122223333:oidc-provider/existing"
    error_message = "no second provider; the role trusts the existing one"
  }
}

run "a_wildcard_environment_is_rejected" {
  command = plan

  variables {
    github_environments = ["*"]
  }
  expect_failures = [var.github_environments]
}

run "a_malformed_github_repository_is_rejected" {
  command = plan

  variables {
    github_repository = "not a repo"
  }
  expect_failures = [var.github_repository]
}
