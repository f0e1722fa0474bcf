terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Partial configuration: on AWS, `terraform init -backend-config=...` gives bucket, key, region
  # and use_lockfile (see infra/README.md). The local estate applies with a backend_override.tf
  # (`*_override.tf`) that replaces this with a local backend.
  backend "s3" {}
}
