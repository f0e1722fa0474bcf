# GitHub Actions' way into one BBWS account (RB-003 §1.3): the account's OIDC identity provider for
# token.actions.githubusercontent.com and the role bbws-github-actions-role-<env> that the workflows of
# .github/workflows assume with aws-actions/configure-aws-credentials (no stored keys).
#
# Trust: only ID tokens whose audience is sts.amazonaws.com and whose subject is one of the named
# repositories of the organisation; in SIT and PROD only a job that runs in the GitHub environment of
# that name (sub = repo:<org>/<repo>:environment:<env>), so the environment's protection rules
# (required reviewers, branches) stand in front of the role. In DEV any ref or environment of those
# repositories (the services' CI records its gates on push to main).
#
# Permissions: start and follow this environment's state machines (start, describe, history, stop),
# read the deployment records and the approver directory for the job summary, and in DEV and SIT write
# quality gates. Nothing else: no Lambda change, no approval (a task token is answered only by the
# approval function), no other environment.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  issuer_host = "token.actions.githubusercontent.com"
  provider_arn = (var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn :
  "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.issuer_host}")
  # sub as GitHub writes it: repo:<org>/<repo>:environment:<env> for a job with an environment.
  subjects = var.env == "dev" ? [for r in var.github_repositories : "repo:${var.github_org}/${r}:*"] : [
    for r in var.github_repositories : "repo:${var.github_org}/${r}:environment:${var.env}"
  ]
  state_machine_arns = [for n in var.state_machine_names : "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${n}"]
  execution_arns     = [for n in var.state_machine_names : "arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${n}:*"]
  writes_gates       = var.quality_gates_table_arn != null
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.issuer_host}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM verifies GitHub's tokens through its own library of trusted CAs; the thumbprints are kept for
  # the API, which still accepts them.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubActionsOfTheNamedRepositories"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      # StringLike only in DEV, whose subjects end in ':*' (any ref or environment of a named repository).
      test     = var.env == "dev" ? "StringLike" : "StringEquals"
      variable = "${local.issuer_host}:sub"
      values   = local.subjects
    }
  }
}

resource "aws_iam_role" "github_actions" {
  name                 = "bbws-github-actions-role-${var.env}"
  description          = "GitHub Actions (OIDC) of ${var.github_org}'s BBWS repositories: start and follow the ${var.env} promotion state machines"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_seconds
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "StartThisEnvironmentsStateMachines"
    actions   = ["states:StartExecution"]
    resources = local.state_machine_arns
  }
  statement {
    # Follow an execution (its status, its states with their figures) and stop it when the run is cancelled.
    sid       = "FollowAndStopTheirExecutions"
    actions   = ["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"]
    resources = local.execution_arns
  }
  statement {
    # The job summary's evidence: the deployment record of the execution.
    sid       = "ReadDeploymentRecords"
    actions   = ["dynamodb:Query"]
    resources = ["${var.deployments_table_arn}/index/service-timestamp"]
  }
  statement {
    # Who an approval waits for: the approver directory (a String parameter, not secret).
    sid       = "ReadTheApproverDirectory"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${var.approvers_parameter_name}"]
  }
  dynamic "statement" {
    for_each = local.writes_gates ? [1] : []
    content {
      # record-quality-gate: one item per gate, keyed by the package's CodeSha256 (RB-003 §2.1).
      sid       = "RecordQualityGates"
      actions   = ["dynamodb:PutItem"]
      resources = [var.quality_gates_table_arn]
    }
  }
  dynamic "statement" {
    for_each = local.writes_gates && length(var.service_function_arns) > 0 ? [1] : []
    content {
      # record-quality-gate's CodeSha256 of a deployed package (function and qualifier).
      sid       = "ReadServicePackagesCodeSha256"
      actions   = ["lambda:GetFunctionConfiguration"]
      resources = flatten([for f in var.service_function_arns : [f, "${f}:*"]])
    }
  }
}

resource "aws_iam_role_policy" "github_actions" {
  name   = "least-privilege"
  role   = aws_iam_role.github_actions.id
  policy = data.aws_iam_policy_document.permissions.json
}
