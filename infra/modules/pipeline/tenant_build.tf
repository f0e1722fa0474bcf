# The tenant build (RB-003 §3.2.4, §4.3.4): the account's CodeBuild project bbws-tenant-build-<env>, which
# plans and applies the Terraform of tenants (2_bbws_tenants_instances_dev, tenants/<tenant_id>/) with
# infra/tenant-build/plan.sh and apply.sh, started by the pipeline's state machine
# (codebuild:startBuild.sync) at a commit of that repository. Here: the tenants' Terraform state
# (bbws-tenant-state-<account-id>, key tenants/<tenant_id>/terraform.tfstate) and its lock table
# (bbws-tenant-locks-<env>), the bucket the plans are published to for review and applied from
# (bbws-tenant-plans-<account-id>, under tenant/<env>/<run>/<tenant_id>/), the scripts of this commit in that
# bucket (tenant-build/<content hash>/), the project, its log group, its service role and a key of its own:
# the state and the saved plans hold the tenants' planned values in clear (every saved Terraform plan and
# state does), so they are encrypted with a key that is not the pipeline's and read by the build, the
# pipeline's tenant function and the auditors only.

locals {
  tenant_build_name      = "bbws-tenant-build-${var.env}"
  tenant_build_arn       = "arn:${local.partition}:codebuild:${var.region}:${local.account_id}:project/${local.tenant_build_name}"
  tenant_build_log_group = "/aws/codebuild/${local.tenant_build_name}"
  tenant_state_bucket    = "bbws-tenant-state-${local.account_id}"
  tenant_lock_table      = "bbws-tenant-locks-${var.env}"
  tenant_plans_bucket    = "bbws-tenant-plans-${local.account_id}"
  # This environment's plans (the bucket is the account's; one environment per account).
  tenant_plans_prefix = "tenant/${var.env}/"

  # The role of the pipeline's tenant function (functions/tenant), named as every function's role is
  # (bbws-promotion-<function>-<env>): it reads the plans' summaries for the approval. By name, so the
  # bucket policy does not depend on the function's resources.
  tenant_function_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/bbws-promotion-tenant-${var.env}"

  # The scripts of this commit, uploaded under the hash of their contents: a change to any of them is a
  # new prefix (and a new buildspec), so a build never runs scripts of another commit.
  tenant_scripts_dir = "${path.module}/../../tenant-build"
  tenant_scripts     = ["lib.sh", "plan.sh", "apply.sh"]
  tenant_scripts_sha256 = {
    for f in local.tenant_scripts : f => filesha256("${local.tenant_scripts_dir}/${f}")
  }
  tenant_scripts_hash   = sha256(join("\n", [for f in local.tenant_scripts : "${local.tenant_scripts_sha256[f]}  ${f}"]))
  tenant_scripts_prefix = "tenant-build/${local.tenant_scripts_hash}"

  # What Terraform of a tenant creates (the wordpress-tenant module): names that start with the tenant id,
  # and tenant ids start with "tenant-" (the module's rule: tenant-<three digits>).
  tenant_region_arn = "arn:${local.partition}:%s:${var.region}:${local.account_id}:%s"
  tenant_cluster    = "bbws-cluster-${var.env}"
}

# -- the key --------------------------------------------------------------------------------------

data "aws_iam_policy_document" "tenant_build_key" {
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
    sid       = "CloudWatchLogsForTheBuildLogGroup"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.tenant_build_log_group}"]
    }
  }

  statement {
    sid       = "DynamoDbLockTableForPrincipalsOfThisAccount"
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

resource "aws_kms_key" "tenant_build" {
  description             = "BBWS tenant build (${var.env}): tenants' Terraform state and lock, saved plans, build logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.tenant_build_key.json
}

resource "aws_kms_alias" "tenant_build" {
  name          = "alias/${local.tenant_build_name}"
  target_key_id = aws_kms_key.tenant_build.key_id
}

# -- the tenants' Terraform state and its lock ----------------------------------------------------

resource "aws_s3_bucket" "tenant_state" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per account; the state's reads and writes are audited by CloudTrail data events, which the organisation's trail owns.
  #checkov:skip=CKV_AWS_144:Cross-region replication is the organisation's backup policy; every version of a state is kept (versioning, 90 days noncurrent) and a tenant's resources can be imported again.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a state being written; the builds that write it are the pipeline's.
  bucket        = local.tenant_state_bucket
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "tenant_state" {
  bucket = aws_s3_bucket.tenant_state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "tenant_state" {
  bucket = aws_s3_bucket.tenant_state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tenant_build.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "tenant_state" {
  bucket                  = aws_s3_bucket.tenant_state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "tenant_state" {
  bucket = aws_s3_bucket.tenant_state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "tenant_state" {
  bucket = aws_s3_bucket.tenant_state.id
  rule {
    # A state is never expired; the versions it replaced are kept var.tenant_state_noncurrent_days (a
    # state can be put back after a bad apply).
    id     = "keep-replaced-states"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.tenant_state_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.tenant_state]
}

data "aws_iam_policy_document" "tenant_state_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.tenant_state.arn, "${aws_s3_bucket.tenant_state.arn}/*"]
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
}

resource "aws_s3_bucket_policy" "tenant_state" {
  bucket     = aws_s3_bucket.tenant_state.id
  policy     = data.aws_iam_policy_document.tenant_state_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.tenant_state]
}

resource "aws_dynamodb_table" "tenant_locks" {
  name         = local.tenant_lock_table
  billing_mode = "PAY_PER_REQUEST"
  # Terraform's S3 backend keeps each state's lock and digest here: a destroy must switch this off first.
  deletion_protection_enabled = var.deletion_protection
  hash_key                    = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tenant_build.arn
  }
}

# -- the saved plans, and the scripts ------------------------------------------------------------

resource "aws_s3_bucket" "tenant_plans" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per account; reads of the plans are audited by CloudTrail data events, which the organisation's trail owns.
  #checkov:skip=CKV_AWS_144:Cross-region replication is the organisation's backup policy; a plan that is lost is planned again from its commit.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a plan being published; the state machine that started the build reads its summary.
  bucket        = local.tenant_plans_bucket
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "tenant_plans" {
  bucket = aws_s3_bucket.tenant_plans.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "tenant_plans" {
  bucket = aws_s3_bucket.tenant_plans.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tenant_build.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "tenant_plans" {
  bucket                  = aws_s3_bucket.tenant_plans.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "tenant_plans" {
  bucket = aws_s3_bucket.tenant_plans.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "tenant_plans" {
  bucket = aws_s3_bucket.tenant_plans.id
  rule {
    # The plans that were reviewed, approved and applied are the evidence of a tenant change: kept
    # var.tenant_plans_retention_days, then expired (their summaries are in the execution's history).
    id     = "keep-plans"
    status = "Enabled"
    filter {
      prefix = "tenant/"
    }
    expiration {
      days = var.tenant_plans_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.tenant_plans_retention_days
    }
  }
  rule {
    # The scripts are never expired: those of a commit replaced by a later one stay as noncurrent versions
    # (versioning), and a build's log names the prefix it ran.
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.tenant_plans]
}

data "aws_iam_policy_document" "tenant_plans_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.tenant_plans.arn, "${aws_s3_bucket.tenant_plans.arn}/*"]
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
  # The plans hold the tenants' planned values in clear: only the build (which writes and applies them),
  # the pipeline's tenant function (the summary for the approval) and the auditors read them, whatever
  # other grants a principal of the account has. The scripts (tenant-build/) are not secret.
  statement {
    sid       = "PlansAreReadByTheBuildTheTenantFunctionAndAuditorsOnly"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.tenant_plans.arn}/tenant/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.tenant_build.arn, local.tenant_function_role_arn, aws_iam_role.auditor.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "tenant_plans" {
  bucket     = aws_s3_bucket.tenant_plans.id
  policy     = data.aws_iam_policy_document.tenant_plans_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.tenant_plans]
}

resource "aws_s3_object" "tenant_scripts" {
  for_each     = toset(local.tenant_scripts)
  bucket       = aws_s3_bucket.tenant_plans.id
  key          = "${local.tenant_scripts_prefix}/${each.value}"
  source       = "${local.tenant_scripts_dir}/${each.value}"
  source_hash  = local.tenant_scripts_sha256[each.value]
  content_type = "text/x-shellscript"
  kms_key_id   = aws_kms_key.tenant_build.arn
  # The bucket's policy first: an object written before it would still be readable while it is applied.
  depends_on = [aws_s3_bucket_policy.tenant_plans, aws_s3_bucket_server_side_encryption_configuration.tenant_plans]
}

# -- the project -----------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "tenant_build" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); what a build planned and applied is kept in the plans bucket (plan-summary.json, plan.json) and the tenants' state.
  name              = local.tenant_build_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tenant_build.arn
}

resource "aws_codebuild_project" "tenant_build" {
  name           = local.tenant_build_name
  description    = "BBWS tenant build (${var.env}): terraform plan and apply of tenants/<tenant_id>/ of ${var.tenants_repository_url} (RB-003 §3.2.4, §4.3.4)"
  service_role   = aws_iam_role.tenant_build.arn
  build_timeout  = var.tenant_build_timeout_minutes
  queued_timeout = var.tenant_build_queued_timeout_minutes
  encryption_key = aws_kms_key.tenant_build.arn

  source {
    type     = "GITHUB"
    location = var.tenants_repository_url
    # A full clone: the build is started at any commit of the repository, and the scripts read its history
    # (the commit's author and subject for the plan's summary).
    git_clone_depth = 0
    buildspec = templatefile("${local.tenant_scripts_dir}/buildspec.yml", {
      scripts_url        = "s3://${aws_s3_bucket.tenant_plans.id}/${local.tenant_scripts_prefix}"
      scripts_sha256sums = join(" ", [for f in local.tenant_scripts : "\"${local.tenant_scripts_sha256[f]}  ${f}\""])
    })
    report_build_status = false
  }

  # The scripts publish the plans themselves (plan.sh), under the build's ARTIFACTS_ROOT.
  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    type                        = "LINUX_CONTAINER"
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = var.tenant_build_image
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    environment_variable {
      name  = "ENV"
      value = var.env
    }
    environment_variable {
      name  = "STATE_BUCKET"
      value = aws_s3_bucket.tenant_state.id
    }
    environment_variable {
      name  = "STATE_LOCK_TABLE"
      value = aws_dynamodb_table.tenant_locks.name
    }
    environment_variable {
      name  = "STATE_REGION"
      value = var.region
    }
    environment_variable {
      # The states are written with the bucket's key (Terraform's S3 backend would otherwise ask for
      # SSE-S3 on every write, overriding the bucket's default encryption).
      name  = "STATE_KMS_KEY_ID"
      value = aws_kms_key.tenant_build.arn
    }
    environment_variable {
      name  = "ARTIFACTS_BUCKET"
      value = aws_s3_bucket.tenant_plans.id
    }
    environment_variable {
      name  = "TF_VERSION"
      value = var.tenant_terraform_version
    }
    environment_variable {
      name  = "TF_SHA256"
      value = var.tenant_terraform_sha256
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.tenant_build.name
      status     = "ENABLED"
    }
    s3_logs {
      status = "DISABLED"
    }
  }

  # The role's policy and the log group before the first build can start.
  depends_on = [aws_iam_role_policy.tenant_build, aws_s3_object.tenant_scripts]
}

# -- the build's role ------------------------------------------------------------------------------

data "aws_iam_policy_document" "tenant_build_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    # Only this account's project of that name (CodeBuild's confused-deputy protection).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.tenant_build_arn]
    }
  }
}

resource "aws_iam_role" "tenant_build" {
  name                 = local.tenant_build_name
  description          = "Service role of the CodeBuild project ${local.tenant_build_name}: plans and applies tenants' Terraform"
  assume_role_policy   = data.aws_iam_policy_document.tenant_build_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "tenant_build" {
  # "*" is the resource only of actions without resource-level permissions (EC2's and SSM's describes,
  # ECS's task definition reads and deregistration, DescribeLogGroups), each said where it is granted.
  statement {
    # CodeBuild writes each build's log stream as the role, creating the group first if it is missing
    # (Terraform made it, with its retention and key; CodeBuild's documented policy still asks for it).
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.tenant_build.arn}:log-stream:*"]
  }

  # -- the Terraform state and lock, the plans, the scripts
  statement {
    sid       = "TenantStates"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.tenant_state.arn}/tenants/*"]
  }
  statement {
    # The S3 backend lists the bucket for the state's workspaces.
    sid       = "ListTenantStates"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.tenant_state.arn]
  }
  statement {
    sid       = "TenantStateLocks"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.tenant_locks.arn]
  }
  statement {
    # This environment's plans: plan.sh publishes, apply.sh reads back what was approved.
    sid       = "ThisEnvironmentsPlans"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.tenant_plans.arn}/${local.tenant_plans_prefix}*"]
  }
  statement {
    sid       = "BuildScripts"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.tenant_plans.arn}/tenant-build/*"]
  }
  statement {
    # One recursive copy each, which lists its prefix: the buildspec's of this commit's scripts, and
    # apply.sh's of a plan of this environment (the plan and its summary).
    sid       = "ListTheScriptsAndThisEnvironmentsPlans"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.tenant_plans.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.tenant_scripts_prefix}/", "${local.tenant_plans_prefix}*"]
    }
  }
  statement {
    # The state, the plans and the scripts are encrypted with the build's key: through S3 only (the lock
    # table's use of it through DynamoDB is the key policy's).
    sid       = "EncryptedStatesAndPlans"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tenant_build.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }

  # -- what a tenant's Terraform reads of the platform (data sources of modules/wordpress-tenant)
  statement {
    sid       = "ThePlatformCluster"
    actions   = ["ecs:DescribeClusters"]
    resources = [format(local.tenant_region_arn, "ecs", "cluster/${local.tenant_cluster}")]
  }
  statement {
    # The platform VPC (by its Name tag), its private subnets and the tenants' security group. EC2's
    # Describe* actions have no resource-level permissions: "*" is the only resource they take.
    sid       = "ThePlatformNetwork"
    actions   = ["ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeRouteTables"]
    resources = ["*"]
  }
  statement {
    # The VPC's DNS attributes (read with the VPC); the VPC's id is the platform's, unknown here.
    sid       = "ThePlatformVpcAttributes"
    actions   = ["ec2:DescribeVpcAttribute"]
    resources = [format(local.tenant_region_arn, "ec2", "vpc/*")]
  }

  # -- what a tenant's Terraform creates, changes and destroys, by the tenants' names
  statement {
    sid = "TenantServices"
    actions = [
      "ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices",
    ]
    resources = [format(local.tenant_region_arn, "ecs", "service/${local.tenant_cluster}/tenant-*")]
  }
  statement {
    sid       = "TenantTaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = [format(local.tenant_region_arn, "ecs", "task-definition/tenant-*:*")]
  }
  statement {
    # Tags given at creation (the tenants' default tags) and changed later.
    sid     = "TagTenantServicesAndTaskDefinitions"
    actions = ["ecs:TagResource", "ecs:UntagResource"]
    resources = [
      format(local.tenant_region_arn, "ecs", "service/${local.tenant_cluster}/tenant-*"),
      format(local.tenant_region_arn, "ecs", "task-definition/tenant-*:*"),
    ]
  }
  statement {
    # DescribeTaskDefinition and DeregisterTaskDefinition have no resource-level permissions: "*" is the
    # only resource they take (a new revision replaces the one a tenant's service ran).
    sid       = "TaskDefinitionRevisions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition"]
    resources = ["*"]
  }
  statement {
    # The role a tenant's tasks start with, handed to ECS only.
    sid       = "PassTenantExecutionRolesToEcsTasks"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/tenant-*-execution-${var.env}"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid = "TenantExecutionRoles"
    actions = [
      "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
      "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/tenant-*-execution-${var.env}"]
  }
  statement {
    # The build assumes no role: a tenant role whose trust named the build's role could otherwise be
    # assumed through that trust alone (same account), with whatever the tenant's Terraform granted it.
    sid       = "NoRoleAssumed"
    effect    = "Deny"
    actions   = ["sts:AssumeRole"]
    resources = ["*"]
  }
  statement {
    sid = "TenantLogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
      "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
    ]
    resources = [format(local.tenant_region_arn, "logs", "log-group:/bbws/tenants/${var.env}/tenant-*")]
  }
  statement {
    # DescribeLogGroups has no resource-level permissions: "*" is the only resource it takes.
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }
  statement {
    sid = "TenantParameters"
    actions = [
      "ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter",
      "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource",
    ]
    resources = [format(local.tenant_region_arn, "ssm", "parameter/bbws/tenants/${var.env}/tenant-*")]
  }
  statement {
    # DescribeParameters has no resource-level permissions: "*" is the only resource it takes.
    sid       = "DescribeParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "tenant_build" {
  name   = "tenant-build"
  role   = aws_iam_role.tenant_build.id
  policy = data.aws_iam_policy_document.tenant_build.json
}

# The auditors read the plans too (the bucket policy lets them): every environment's prefix of this
# account's bucket, every version, decrypted through S3 only.
data "aws_iam_policy_document" "auditor_tenant_plans" {
  statement {
    sid       = "ListTenantPlans"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.tenant_plans.arn]
  }
  statement {
    sid       = "ReadTenantPlans"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.tenant_plans.arn}/tenant/*"]
  }
  statement {
    sid       = "DecryptTenantPlans"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.tenant_build.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "auditor_tenant_plans" {
  name   = "tenant-plans"
  role   = aws_iam_role.auditor.id
  policy = data.aws_iam_policy_document.auditor_tenant_plans.json
}
