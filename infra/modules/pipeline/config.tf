# The promotion rules (RB-003's catalog, windows, gates, monitor and watch: var.promotion_config, else
# the runbook's events/config/runbook.json) as one JSON document in the evidence bucket,
# config/<env>/promotion-config.json. A change writes a new version of it (the bucket keeps every
# version and nobody deletes one) and the functions that apply the rules are told which version to
# read (BBWS_CONFIG_OBJECT, BBWS_CONFIG_VERSION): they read it once when their process starts, a new
# version changes their environment so no process goes on with the old rules, and an auditor reads
# the very rules an execution ran under. Lambda's 4 KB of environment would hold five services; S3
# holds any catalog.

resource "aws_s3_object" "config" {
  bucket       = aws_s3_bucket.evidence.id
  key          = local.config_key
  content      = jsonencode(jsondecode(local.catalog_config))
  content_type = "application/json"
  kms_key_id   = aws_kms_key.pipeline.arn

  depends_on = [
    aws_s3_bucket_versioning.evidence,
    aws_s3_bucket_server_side_encryption_configuration.evidence,
    aws_s3_bucket_policy.evidence,
  ]
}

locals {
  function_environment = {
    for k, _ in local.functions : k => merge(
      local.common_environment,
      contains(local.config_readers, k) ? {
        BBWS_CONFIG_OBJECT  = aws_s3_object.config.key
        BBWS_CONFIG_VERSION = aws_s3_object.config.version_id
      } : {},
    )
  }
}

# The functions that apply the rules read versions of this environment's rules documents (GetObject with
# a versionId) and nothing else of the bucket; S3 decrypts them with the pipeline key for them. The
# prefix, not the one key: a document written for one function (a test's rules, a change tried on the
# preflight alone) is read the same way. Added to each reader's one inline policy (iam.tf).
data "aws_iam_policy_document" "read_config" {
  statement {
    sid       = "ReadThePromotionRules"
    actions   = ["s3:GetObjectVersion"]
    resources = ["arn:${local.partition}:s3:::${local.evidence_bucket}/config/${var.env}/*"]
  }
  statement {
    sid       = "DecryptThePromotionRules"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}
