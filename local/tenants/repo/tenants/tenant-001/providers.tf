# Credentials come from the environment (the deploy build's role). Endpoints are AWS's unless the
# standard AWS_ENDPOINT_URL* variables name others.
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "bbws:tenant"      = var.tenant_id
      "bbws:environment" = var.env
      "bbws:managed-by"  = "2_bbws_tenants_instances_dev"
    }
  }
}
