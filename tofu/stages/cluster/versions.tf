terraform {
  required_version = ">= 1.10"

  # S3 state with native locking (use_lockfile). The bucket comes from clusters/<env>/backend.hcl
  # and the key from the Makefile: tofu init -backend-config=... -backend-config=key=...
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }
}
