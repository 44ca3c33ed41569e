variable "name" {
  description = "Prefix of every resource name; also the EKS cluster name used in subnet tags."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 32
    error_message = "name must be 2-32 lowercase letters, digits or dashes, starting with a letter (the EKS cluster name)."
  }
}

variable "cidr" {
  description = "IPv4 CIDR of the VPC (a /16 to /20; subnets are carved out of it)."
  type        = string
  default     = "10.0.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && try(tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 20, false)
    error_message = "cidr must be a valid IPv4 CIDR block between /16 and /20, e.g. 10.0.0.0/16."
  }
}

variable "az_count" {
  description = "How many availability zones to spread the subnets over (taken from the region)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (production: survives an AZ outage) or a single shared one (cheaper)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = <<-EOT
    Interface endpoints for ECR (api, dkr) and STS in every private subnet, so that image
    manifests and token calls skip the NAT gateway too (layers already do, through the free
    S3 gateway endpoint). Cost: 3 endpoints x one per AZ x about 0.01 USD/hour (about 66
    USD/month with 3 AZs in us-east-1) plus 0.01 USD/GB processed; worth it when NAT data
    charges (about 0.045 USD/GB) or a no-egress policy call for it.
  EOT
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
