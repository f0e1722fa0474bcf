# What the approval function reads at run time. The signing key is a SecureString under the pipeline
# key; its value comes from var.approval_signing_key (sensitive; it is also in the state, so the state
# backend must be encrypted and access-controlled). Rotation: apply with a new value; links signed with
# the old key stop verifying, so rotate when no approval is pending (or re-request the pending ones).

resource "aws_ssm_parameter" "approval_key" {
  name        = local.parameters.approval_key
  description = "HMAC key signing the ${var.env} approval links"
  type        = "SecureString"
  key_id      = aws_kms_key.pipeline.arn
  value       = var.approval_signing_key
}

resource "aws_ssm_parameter" "approvers" {
  #checkov:skip=CKV2_AWS_34:Not secret: the addresses the approval mails go to, also visible in the topic's subscriptions.
  name        = local.parameters.approvers
  description = "Approval roles and the addresses holding them (RB-003 §2.2)"
  type        = "String"
  value       = jsonencode(var.approvers)
}

resource "aws_ssm_parameter" "approval_url" {
  #checkov:skip=CKV2_AWS_34:Not secret: the URL is in every approval mail; what protects an approval is the link's signature.
  name        = local.parameters.approval_url
  description = "Base URL of the ${var.env} approval links (the approval function's URL)"
  type        = "String"
  value       = aws_lambda_function_url.approval.function_url
}
