# bbws-promotion-auditor-<env>: what an auditor reads, and nothing they could change. The deployment
# records and the approvals (who decided, when, from where), the evidence bucket (every version of every
# report), the executions of the pipeline's state machines with their histories, and the pipeline's logs.
# Assumed by the principals of var.auditor_principals (by default the account itself, so the account's
# own IAM, e.g. an IAM Identity Center permission set that requires MFA at sign-in, decides who).

data "aws_iam_policy_document" "auditor_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = coalesce(var.auditor_principals, ["arn:${local.partition}:iam::${local.account_id}:root"])
    }
  }
}

resource "aws_iam_role" "auditor" {
  name                 = "bbws-promotion-auditor-${var.env}"
  description          = "Read-only: deployment records, approvals, evidence and execution history of the BBWS promotion pipeline (${var.env})"
  assume_role_policy   = data.aws_iam_policy_document.auditor_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "auditor" {
  statement {
    sid     = "ReadRecordsAndApprovals"
    actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"]
    resources = [
      aws_dynamodb_table.deployments.arn,
      "${aws_dynamodb_table.deployments.arn}/index/*",
      aws_dynamodb_table.approvals.arn,
    ]
  }
  statement {
    sid       = "ListEvidence"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.evidence.arn]
  }
  statement {
    sid       = "ReadEvidence"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.evidence.arn}/*"]
  }
  statement {
    # The tables and the evidence are encrypted with the pipeline key: decrypting through those services only.
    sid       = "DecryptThroughTheStores"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com", "s3.${var.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "ListExecutions"
    actions   = ["states:ListExecutions", "states:DescribeStateMachine"]
    resources = local.all_state_machine_arns
  }
  statement {
    sid       = "ReadExecutions"
    actions   = ["states:DescribeExecution", "states:GetExecutionHistory"]
    resources = [for n in local.all_state_machine_names : "arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${n}:*"]
  }
}

resource "aws_iam_role_policy" "auditor" {
  name   = "read-only"
  role   = aws_iam_role.auditor.id
  policy = data.aws_iam_policy_document.auditor.json
}
