output "service_name" {
  description = "The tenant's ECS service (RB-003: aws ecs describe-services --services <tenant_id>-wordpress)."
  value       = aws_ecs_service.wordpress.name
}

output "cluster_name" {
  description = "The cluster the service runs in."
  value       = data.aws_ecs_cluster.platform.cluster_name
}

output "task_definition_arn" {
  description = "The task definition revision the service runs."
  value       = aws_ecs_task_definition.wordpress.arn
}

output "log_group_name" {
  description = "The tenant's container log group."
  value       = aws_cloudwatch_log_group.wordpress.name
}
