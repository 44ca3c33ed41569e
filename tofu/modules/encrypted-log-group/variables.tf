variable "name" {
  description = "Name of the CloudWatch log group, e.g. /aws/eks/<cluster>/cluster."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#-]{1,512}$", var.name))
    error_message = "name must be 1-512 of letters, digits and _ - / . #."
  }
}

variable "retention_in_days" {
  description = "How long events are kept: a CloudWatch retention of at least a year."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_in_days)
    error_message = "retention_in_days must be a CloudWatch retention of at least a year (365, 400, 545, 731, ... 3653)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
