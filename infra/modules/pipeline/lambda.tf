# The eight functions (Rust, provided.al2023), each with its own log group and role.

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each promotion is the deployments and approvals tables (PITR, deletion protection), not the logs.
  for_each          = local.functions
  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously only (Step Functions tasks, the function URL): a failure returns to the caller, which retries or records it; there is no asynchronous event to dead-letter.
  #checkov:skip=CKV_AWS_117:The functions call AWS APIs only and reach no private resource; a VPC would add NAT gateways or endpoints and nothing to protect.
  #checkov:skip=CKV_AWS_173:The environment holds names and ARNs only; the one secret (the signing key) is a SecureString under the pipeline key.
  #checkov:skip=CKV_AWS_272:The zips are built and hashed by this repository's build (source_code_hash); Lambda code signing needs an AWS Signer profile, which the pipeline does not use.
  #checkov:skip=CKV_AWS_50:The promotion's trail is the execution history and the deployments table; X-Ray would need xray:Put* on "*" in every role.
  for_each = local.functions

  function_name    = local.function_names[each.key]
  description      = "BBWS promotion (${var.env}): ${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  memory_size      = 256
  timeout          = each.value.timeout
  filename         = "${var.lambda_zip_dir}/${each.value.bin}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.value.bin}/bootstrap.zip")

  # Only the approval function is reachable from outside (its URL); a cap bounds what a flood of
  # requests to it can cost. The others run only when this account's state machine calls them.
  reserved_concurrent_executions = each.key == "approval" ? var.approval_reserved_concurrency : -1

  environment {
    variables = local.function_environment[each.key]
  }

  lifecycle {
    precondition {
      # Lambda allows 4 KB of environment variables in all.
      condition     = length(jsonencode(local.function_environment[each.key])) <= 4096
      error_message = "The environment of ${local.function_names[each.key]} exceeds Lambda's 4 KB."
    }
  }

  # The log group exists before the function can write (Lambda would otherwise create one without
  # retention or key), and the role's policy before the first invocation.
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

# The approval links point here. NONE: approvers click a link in an email and have no AWS
# credentials; every link is HMAC-signed by the function with the key in SSM, which it verifies.
# With NONE, the provider itself adds the lambda:InvokeFunctionUrl statement
# (Sid FunctionURLAllowPublicAccess, condition lambda:FunctionUrlAuthType = NONE); a second
# aws_lambda_permission with that Sid would fail on AWS with ResourceConflictException.
resource "aws_lambda_function_url" "approval" {
  #checkov:skip=CKV_AWS_258:Public by design: approvers open links from email; each link carries an HMAC signature the function verifies.
  function_name      = aws_lambda_function.function["approval"].function_name
  authorization_type = "NONE"
}

# Since October 2025 a function URL also needs lambda:InvokeFunction, restricted to calls through the
# URL (condition lambda:InvokedViaFunctionUrl). aws_lambda_permission gained that only in provider
# 6.29 (invoked_via_function_url); with 5.100 the statement is made through Cloud Control, whose
# AWS::Lambda::Permission schema has InvokedViaFunctionUrl. Without the condition, "*" could invoke
# the function directly with any event, so it is never granted unconditioned.
resource "aws_cloudcontrolapi_resource" "approval_url_invoke" {
  type_name = "AWS::Lambda::Permission"
  desired_state = jsonencode({
    FunctionName          = aws_lambda_function.function["approval"].arn
    Action                = "lambda:InvokeFunction"
    Principal             = "*"
    InvokedViaFunctionUrl = true
  })
}
