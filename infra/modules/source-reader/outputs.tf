output "role_arn" {
  description = "The source reader role's ARN (BBWS_SOURCE_READER_ROLE_ARN of the next environment)."
  value       = aws_iam_role.source_reader.arn
}

output "trusted_role_arns" {
  description = "The roles allowed to assume it."
  value       = var.trusted_role_arns
}
