terraform {
  required_version = ">= 1.8"

  # S3 state with native locking; the bucket and key come from backend.hcl (see
  # backend.hcl.example): tofu init -backend-config=backend.hcl
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }
}
