mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["eu-west-1c", "eu-west-1a", "eu-west-1d", "eu-west-1b"]
    }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/vpc/flow-logs" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/test" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/flow-logs" }
  }
}

variables {
  name = "gpu-inference-test"
}

run "three_azs_from_the_region_give_three_tagged_private_and_public_subnets" {
  command = plan

  assert {
    condition     = join(",", output.azs) == "eu-west-1a,eu-west-1b,eu-west-1c"
    error_message = "the first 3 AZs of the region, sorted, are expected"
  }
  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "3 private and 3 public subnets are expected"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["kubernetes.io/role/internal-elb"] == "1" && s.tags["kubernetes.io/cluster/gpu-inference-test"] == "shared"])
    error_message = "private subnets need the internal-elb and cluster tags"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1"])
    error_message = "public subnets need the elb tag"
  }
  assert {
    condition     = length(distinct([for s in aws_subnet.private : s.availability_zone])) == 3
    error_message = "one private subnet per AZ"
  }
  assert {
    condition     = aws_subnet.private[0].cidr_block == "10.0.0.0/19" && aws_subnet.public[0].cidr_block == "10.0.128.0/22"
    error_message = "subnet CIDRs are carved from the VPC CIDR as documented"
  }
}

run "production_gets_one_nat_gateway_per_az" {
  command = plan

  variables {
    nat_gateway_per_az = true
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "one NAT gateway per AZ expected"
  }
}

run "dev_shares_a_single_nat_gateway" {
  command = plan

  variables {
    nat_gateway_per_az = false
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 3
    error_message = "one NAT gateway, routed from all 3 private route tables"
  }
}

run "a_bad_cidr_is_rejected" {
  command = plan

  variables {
    cidr = "10.0.0.0/33"
  }
  expect_failures = [var.cidr]
}

run "a_too_small_vpc_is_rejected" {
  command = plan

  variables {
    cidr = "10.0.0.0/24"
  }
  expect_failures = [var.cidr]
}
