# Promotion events go to the platform team; approval requests go to the approvers, each receiving only
# the messages whose `approver` attribute is their own address (so only their own signed links).

resource "aws_sns_topic" "events" {
  name              = "bbws-promotion-events-${var.env}"
  kms_master_key_id = aws_kms_key.pipeline.arn
}

resource "aws_sns_topic_subscription" "events" {
  for_each  = toset(var.notification_emails)
  topic_arn = aws_sns_topic.events.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic" "approvals" {
  name              = "bbws-promotion-approvals-${var.env}"
  kms_master_key_id = aws_kms_key.pipeline.arn
}

locals {
  # One subscription per person, whatever the number of roles they hold; addresses compare
  # case-insensitively, as the approval rules compare them.
  approver_emails = { for e in flatten(values(var.approvers)) : lower(e) => e... }
}

resource "aws_sns_topic_subscription" "approvers" {
  for_each  = local.approver_emails
  topic_arn = aws_sns_topic.approvals.arn
  protocol  = "email"
  endpoint  = each.value[0]
  filter_policy = jsonencode({
    approver = [{ "equals-ignore-case" = each.key }]
  })
  filter_policy_scope = "MessageAttributes"
}
