# One customer managed key per account for everything the pipeline stores: the approval signing key
# (SSM), the tables, the topics and the log groups. With it, reading the signing key takes two explicit
# grants (ssm:GetParameter and kms:Decrypt on this key), which only the approval function's role has;
# with the AWS managed aws/ssm key any principal of the account allowed ssm:GetParameter could read it.

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key only; the first statement is AWS's default key policy, which leaves the key's use to IAM policies.
  #checkov:skip=CKV_AWS_111:Same: "*" in a key policy is this key; the logs and DynamoDB statements are bound by service, account and encryption context.
  #checkov:skip=CKV_AWS_356:Same: "*" in a key policy is this key.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsForThePipelineLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/bbws-promotion-*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/vendedlogs/states/bbws-promote-*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/vendedlogs/states/bbws-rollback-*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/vendedlogs/states/bbws-release-*",
      ]
    }
  }

  # CloudWatch publishes the bbws- alarms' notifications to the events topic, which this key encrypts:
  # without this statement an alarm changes state and its notification is dropped.
  statement {
    sid       = "CloudWatchAlarmsPublishToTheEventsTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:bbws-*"]
    }
  }

  statement {
    sid       = "DynamoDbTablesForPrincipalsOfThisAccount"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "pipeline" {
  description             = "BBWS promotion pipeline (${var.env}): approval key, tables, topics, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "pipeline" {
  name          = "alias/bbws-promotion-${var.env}"
  target_key_id = aws_kms_key.pipeline.key_id
}
