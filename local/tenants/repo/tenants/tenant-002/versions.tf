terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Partial configuration: bucket, key (tenants/<tenant_id>/terraform.tfstate), dynamodb_table, encrypt
  # and region are given to `terraform init -backend-config=...` by the account's deploy build.
  backend "s3" {}
}
