output "role_arn" {
  description = "bbws-github-actions-role-<env>: the workflows' role-to-assume."
  value       = aws_iam_role.github_actions.arn
}

output "oidc_provider_arn" {
  description = "The account's OIDC provider for token.actions.githubusercontent.com."
  value       = local.provider_arn
}
