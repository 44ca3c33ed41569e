mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/test" }
  }
}

variables {
  name = "/aws/eks/test/cluster"
}

run "the_log_group_is_encrypted_with_a_rotating_key_that_cloudwatch_may_use" {
  command = apply

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == aws_kms_key.this.arn && aws_kms_key.this.enable_key_rotation
    error_message = "the group must use its own rotating key"
  }
  assert {
    condition     = jsondecode(aws_kms_key.this.policy).Statement[1].Principal.Service == "logs.eu-west-1.amazonaws.com"
    error_message = "CloudWatch Logs of the region must be allowed to use the key"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 365
    error_message = "a year by default"
  }
}

run "a_retention_under_a_year_is_rejected" {
  command = plan

  variables {
    retention_in_days = 90
  }
  expect_failures = [var.retention_in_days]
}
