# The evidence of every execution (RB-003 §7 checklists filled, release notes): one bucket per account,
# bbws-promotion-evidence-<account-id>, keyed evidence/<env>/<service>/<execution>/. Records are evidence:
# every version is kept (versioning), nobody deletes an object or a version (the bucket policy denies it
# to every principal, administrators included), objects move to cheaper storage as they age and noncurrent
# versions are kept var.evidence_noncurrent_days (7 years by default).

locals {
  evidence_bucket = "bbws-promotion-evidence-${local.account_id}"
  evidence_prefix = "evidence/${var.env}/"
  # Objects the pipeline writes and the approval function serves: this environment's prefix only.
  evidence_objects = "arn:${local.partition}:s3:::${local.evidence_bucket}/${local.evidence_prefix}*"
}

resource "aws_s3_bucket" "evidence" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per account; reads of the evidence are audited by CloudTrail data events, which the organisation's trail owns.
  #checkov:skip=CKV_AWS_144:Cross-region replication is the organisation's backup policy; the reports can be written again from the deployment records (point-in-time recovery) with bbws-report.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a report being written; the completion email already links it.
  bucket        = local.evidence_bucket
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.pipeline.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    id     = "keep-evidence"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "STANDARD_IA"
    }
    transition {
      days          = 365
      storage_class = "GLACIER_IR"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.evidence_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.evidence]
}

data "aws_iam_policy_document" "evidence_bucket" {
  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.evidence.arn,
      "${aws_s3_bucket.evidence.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "EvidenceIsNeverDeleted"
    effect    = "Deny"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = [aws_s3_bucket.evidence.arn, "${aws_s3_bucket.evidence.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_s3_bucket_policy" "evidence" {
  bucket     = aws_s3_bucket.evidence.id
  policy     = data.aws_iam_policy_document.evidence_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.evidence]
}
