# One WordPress tenant in the platform's shared ECS cluster bbws-cluster-<env>: its task definition and
# Fargate service (both <tenant_id>-wordpress), its log group, its settings in SSM and the role its tasks
# start with. The cluster, VPC, private subnets and tasks' security group belong to the platform: read here.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_ecs_cluster" "platform" {
  cluster_name = "bbws-cluster-${var.env}"
}

data "aws_vpc" "platform" {
  tags = {
    Name = "bbws-vpc-${var.env}"
  }
}

data "aws_subnets" "private" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.platform.id]
  }
  tags = {
    "bbws:tier" = "private"
  }
}

data "aws_security_group" "tenants" {
  vpc_id = data.aws_vpc.platform.id
  name   = "bbws-tenants-${var.env}"
}

locals {
  name           = "${var.tenant_id}-wordpress"
  log_group      = "/bbws/tenants/${var.env}/${var.tenant_id}"
  settings_param = "/bbws/tenants/${var.env}/${var.tenant_id}/settings"
  settings_arn   = "arn:aws:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${local.settings_param}"
}

resource "aws_cloudwatch_log_group" "wordpress" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
}

resource "aws_ssm_parameter" "settings" {
  name        = local.settings_param
  description = "WordPress settings of ${var.tenant_id} in ${var.env}"
  type        = "String"
  value       = jsonencode(var.settings)
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role: pulls the image, writes the tenant's log group, reads the tenant's settings.
resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution-${var.env}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteTheTenantsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.wordpress.arn}:*"]
  }
  statement {
    sid       = "ReadTheTenantsSettings"
    actions   = ["ssm:GetParameters"]
    resources = [local.settings_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "tenant-logs-and-settings"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_ecs_task_definition" "wordpress" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions = jsonencode([{
    name         = "wordpress"
    image        = "${var.image}:${var.image_tag}"
    essential    = true
    portMappings = [{ containerPort = 80, hostPort = 80, protocol = "tcp" }]
    secrets      = [{ name = "BBWS_TENANT_SETTINGS", valueFrom = local.settings_arn }]
    environment = [
      { name = "BBWS_ENV", value = var.env },
      { name = "BBWS_TENANT_ID", value = var.tenant_id },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.wordpress.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "wordpress"
      }
    }
  }])
}

resource "aws_ecs_service" "wordpress" {
  name            = local.name
  cluster         = data.aws_ecs_cluster.platform.arn
  task_definition = aws_ecs_task_definition.wordpress.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = sort(data.aws_subnets.private.ids)
    security_groups  = [data.aws_security_group.tenants.id]
    assign_public_ip = false
  }

  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200
}
