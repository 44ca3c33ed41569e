output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "azs" {
  description = "The availability zones the subnets are in."
  value       = local.azs
}

output "private_subnet_ids" {
  description = "Private subnets, one per AZ: EKS nodes and the control plane's ENIs."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets, one per AZ: internet-facing load balancers and NAT."
  value       = aws_subnet.public[*].id
}

output "nat_gateway_count" {
  description = "How many NAT gateways were made."
  value       = length(aws_nat_gateway.this)
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets (the S3 gateway endpoint is on them)."
  value       = aws_route_table.private[*].id
}

output "vpc_endpoints" {
  description = "VPC endpoints by service: s3 (gateway) and, with interface_endpoints, ecr.api, ecr.dkr and sts."
  value       = merge({ s3 = aws_vpc_endpoint.s3.id }, { for k, e in aws_vpc_endpoint.interface : k => e.id })
}

output "vpc_cidr" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}
