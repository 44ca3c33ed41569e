mock_provider "aws" {
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:eu-west-1:111122223333:repository/model-server" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
  }
}

run "the_repository_scans_on_push_keeps_tags_immutable_and_expires_old_images" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "tags must be immutable"
  }
  assert {
    condition     = aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    error_message = "scan on push expected"
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[1].selection.countNumber == 50
    error_message = "the newest 50 images are kept by default"
  }
  assert {
    condition     = length(aws_iam_role.github_push) == 0
    error_message = "no CI role without github_repository"
  }
}

run "a_github_repository_gets_a_push_role_limited_to_its_ref" {
  command = apply

  variables {
    github_repository = "example-org/gpu-inference-gitops"
  }
  assert {
    condition     = jsondecode(aws_iam_role.github_push[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/gpu-inference-gitops:ref:refs/heads/main"
    error_message = "the role must trust only that repository's main branch"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.github_push[0].policy).Statement[1].Resource == aws_ecr_repository.this.arn
    error_message = "pushes are limited to this repository"
  }
}

run "a_malformed_github_repository_is_rejected" {
  command = plan

  variables {
    github_repository = "not a repo"
  }
  expect_failures = [var.github_repository]
}
