mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:eu-west-1:111122223333:repository/model-server" }
  }
}

run "the_repository_scans_on_push_keeps_tags_immutable_and_expires_only_untagged_images" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    error_message = "tags are immutable and images scanned on push"
  }
  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : r.selection.tagStatus] == ["untagged"]
    error_message = "the only expiring rule selects untagged images: no tag an env overlay may reference (CI's commit tags included) ever expires"
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection.countNumber == 1 && jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].action.type == "expire"
    error_message = "untagged images expire after a day"
  }
  assert {
    condition     = length(aws_ecr_repository_policy.pull) == 0
    error_message = "no repository policy while every env is in this account"
  }
}

run "nodes_of_other_accounts_may_pull_and_nothing_more" {
  command = plan

  variables {
    pull_account_ids = ["444455556666", "777788889999"]
  }
  assert {
    condition     = jsondecode(aws_ecr_repository_policy.pull[0].policy).Statement[0].Principal.AWS == ["arn:aws:iam::444455556666:root", "arn:aws:iam::777788889999:root"]
    error_message = "each listed account is a principal"
  }
  assert {
    condition     = jsondecode(aws_ecr_repository_policy.pull[0].policy).Statement[0].Condition.ArnLike["aws:PrincipalArn"] == ["arn:aws:iam::444455556666:role/*-node", "arn:aws:iam::777788889999:role/*-node"]
    error_message = "only their EKS node roles (<cluster>-node) may pull"
  }
  assert {
    condition     = toset(jsondecode(aws_ecr_repository_policy.pull[0].policy).Statement[0].Action) == toset(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
    error_message = "pull actions only: no push, no delete"
  }
}

run "a_malformed_account_id_is_rejected" {
  command = plan

  variables {
    pull_account_ids = ["4444-5555-6666"]
  }
  expect_failures = [var.pull_account_ids]
}
