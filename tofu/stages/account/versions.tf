terraform {
  required_version = ">= 1.10"

  # S3 state with native locking (use_lockfile). The bucket comes from
  # clusters/accounts/<name>/backend.hcl and the key from the Makefile.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }
}
