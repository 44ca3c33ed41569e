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
    condition = jsondecode(aws_kms_key.this.policy).Statement == [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::111122223333:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypts"
        Effect    = "Allow"
        Principal = { Service = "logs.eu-west-1.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
    error_message = "the key policy: this account administers the key, CloudWatch Logs of this region (and no one else) may use it"
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
