provider "aws" {
  region  = local.region
  profile = var.aws_profile

  # On AWS, refuse any other account before touching anything.
  allowed_account_ids = local.on_estate ? null : [local.account_id]

  skip_credentials_validation = local.on_estate
  skip_metadata_api_check     = local.on_estate
  skip_requesting_account_id  = local.on_estate
  skip_region_validation      = local.on_estate
  # Five attempts on the estate (the provider's default is 25): the SDK's own retries of a lost answer ("use of
  # closed network connection" after a 200, a client-side race that happens on AWS too) stay quiet, and
  # an estate that refuses something still fails the apply in seconds.
  max_retries = local.on_estate ? 5 : null
  # The estate answers on one host name: buckets are addressed in the path, as AWS also accepts.
  s3_use_path_style = local.on_estate

  dynamic "endpoints" {
    for_each = local.on_estate ? [var.local_endpoint] : []
    content {
      cloudcontrolapi = endpoints.value
      cloudformation  = endpoints.value
      codebuild       = endpoints.value
      cloudwatch      = endpoints.value
      dynamodb        = endpoints.value
      iam             = endpoints.value
      kms             = endpoints.value
      lambda          = endpoints.value
      logs            = endpoints.value
      s3              = endpoints.value
      sfn             = endpoints.value
      sns             = endpoints.value
      ssm             = endpoints.value
      sts             = endpoints.value
    }
  }

  default_tags {
    tags = local.tags
  }
}
