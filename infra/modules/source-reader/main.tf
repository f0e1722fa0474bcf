# bbws-promotion-source-reader: what the next environment's pipeline may read in this account — the
# code, configuration and aliases of the service functions (to copy a release forward), their metrics
# (RB-003 §2.1 error and throttle checks), the quality gates CI recorded for a code hash and, in SIT,
# the deployment records that say since when a version serves (RB-003 §7.2 "SIT stable for 24 hours").
#
# The trust names the next environment's roles by ARN. IAM refuses a trust policy naming a role that
# does not exist, so on AWS the next environment's pipeline is applied first (prod, then sit, then dev).

locals {
  accounts   = { dev = "536580886816", sit = "815856636111" }
  account_id = local.accounts[var.env]
  function_arns = flatten([
    for n in var.service_function_names : [
      "arn:aws:lambda:${var.region}:${local.account_id}:function:${n}",
      "arn:aws:lambda:${var.region}:${local.account_id}:function:${n}:*",
    ]
  ])
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.trusted_role_arns
    }
  }
}

resource "aws_iam_role" "source_reader" {
  name                 = "bbws-promotion-source-reader"
  description          = "Read access to ${upper(var.env)} for the next environment's promotion pipeline"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "read" {
  statement {
    # GetFunction of the version promoted: its state, CodeSha256 and the package's location (the
    # preflight's readiness and the deploy's copy). Nothing else of the functions is read.
    sid       = "ReadServiceFunctions"
    actions   = ["lambda:GetFunction"]
    resources = local.function_arns
  }
  # RB-003 §7.1: the version being promoted answers /health with 200 before it leaves its
  # environment. Qualified ARNs only: the preflight invokes the version itself, never $LATEST.
  statement {
    sid       = "HealthCheckOfTheVersionPromoted"
    actions   = ["lambda:InvokeFunction"]
    resources = [for n in var.service_function_names : "arn:aws:lambda:${var.region}:${local.account_id}:function:${n}:*"]
  }
  statement {
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricStatistics"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadQualityGates"
    actions   = ["dynamodb:Query"]
    resources = [var.quality_gates_table_arn]
  }
  # RB-003 §7.2 "SIT stable for 24 hours": PROD's preflight reads a service's deployment records by
  # the service-timestamp index (since when the version promoted serves in SIT). SIT only: nothing
  # judges DEV's records.
  dynamic "statement" {
    for_each = var.deployments_table_arn == null ? [] : [var.deployments_table_arn]
    content {
      sid       = "ReadDeploymentRecordsOfAService"
      actions   = ["dynamodb:Query"]
      resources = ["${statement.value}/index/service-timestamp"]
    }
  }
}

resource "aws_iam_role_policy" "read" {
  name   = "read-for-promotion"
  role   = aws_iam_role.source_reader.id
  policy = data.aws_iam_policy_document.read.json
}
