terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
      # aws.failover: PROD's failover region (eu-west-1). dev and sit pass their only provider; the module
      # then has nothing in a second region.
      configuration_aliases = [aws.failover]
    }
  }
}
