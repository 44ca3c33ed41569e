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

run "image_layers_reach_s3_through_a_gateway_endpoint_on_the_private_route_tables" {
  command = apply

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "a gateway endpoint for S3 in the VPC's region"
  }
  assert {
    condition     = toset(aws_vpc_endpoint.s3.route_table_ids) == toset(aws_route_table.private[*].id) && length(aws_vpc_endpoint.s3.route_table_ids) == 3
    error_message = "the S3 endpoint is on every private route table (where the nodes are)"
  }
  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_security_group.endpoints) == 0
    error_message = "no interface endpoints unless asked for (they cost per hour and AZ)"
  }
}

run "interface_endpoints_for_ecr_and_sts_when_asked_for" {
  command = apply

  variables {
    interface_endpoints = true
  }
  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "sts"])
    error_message = "ECR API, ECR registry and STS endpoints"
  }
  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && e.vpc_endpoint_type == "Interface" && toset(e.subnet_ids) == toset(aws_subnet.private[*].id)])
    error_message = "each in every private subnet, with private DNS so clients need no change"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoints_https[0].from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https[0].cidr_ipv4 == "10.0.0.0/16"
    error_message = "HTTPS from the VPC only"
  }
}

run "flow_logs_are_written_by_the_flow_logs_service_into_their_own_group_only" {
  command = apply

  assert {
    condition = jsondecode(aws_iam_role.flow_logs.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
    error_message = "the flow-logs role is assumed by the VPC Flow Logs service only"
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.flow_logs.policy).Statement == [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "arn:aws:logs:eu-west-1:111122223333:log-group:/vpc/flow-logs:*"
    }] && aws_flow_log.this.traffic_type == "REJECT"
    error_message = "the role writes to the flow-logs group and nowhere else"
  }
}
