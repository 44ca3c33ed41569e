# The model-server image repository of the account: one registry for every env, so that
# promotion moves a tag and never copies an image. Other accounts' nodes may pull from it.

data "aws_partition" "current" {}

resource "aws_ecr_repository" "this" {
  name                 = var.repository_name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

# Only untagged images expire. Every tag is an image some env may run or roll back to (CI
# tags each image with its git commit and the env overlays reference those tags), and layers
# are shared between images, so keeping every tagged image costs little storage.
resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "expire untagged images (failed or superseded pushes) after ${var.untagged_expiry_days} days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = var.untagged_expiry_days
      }
      action = { type = "expire" }
    }]
  })
}

# Envs in other accounts: their node roles (named "<cluster>-node", see modules/eks) may pull.
resource "aws_ecr_repository_policy" "pull" {
  count = length(var.pull_account_ids) > 0 ? 1 : 0

  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "NodesOfOtherAccountsPull"
      Effect    = "Allow"
      Principal = { AWS = [for id in var.pull_account_ids : "arn:${data.aws_partition.current.partition}:iam::${id}:root"] }
      Action    = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      Condition = {
        ArnLike = {
          "aws:PrincipalArn" = [for id in var.pull_account_ids : "arn:${data.aws_partition.current.partition}:iam::${id}:role/*-node"]
        }
      }
    }]
  })
}
