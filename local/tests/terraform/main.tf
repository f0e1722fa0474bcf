# A small stack applied into the local estate by test_terraform.py: proves terraform-provider-aws 5.100
# can create, read back (no drift) and destroy what the project's infra uses, state machine included.
terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" {
  type = string
}

variable "profile" {
  type    = string
  default = "bbws-dev"
}

variable "name" {
  type = string
}

variable "probe_zip" {
  type = string
}

provider "aws" {
  region                      = "af-south-1"
  profile                     = var.profile
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  max_retries                 = 5
  endpoints {
    iam        = var.endpoint
    sts        = var.endpoint
    lambda     = var.endpoint
    sfn        = var.endpoint
    dynamodb   = var.endpoint
    sns        = var.endpoint
    cloudwatch = var.endpoint
    logs       = var.endpoint
  }
}

data "aws_iam_policy_document" "states_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  name               = "${var.name}-fn"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_lambda_function" "probe" {
  function_name    = "${var.name}-probe"
  role             = aws_iam_role.fn.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  filename         = var.probe_zip
  source_code_hash = filebase64sha256(var.probe_zip)
  publish          = true
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  function_name    = aws_lambda_function.probe.function_name
  function_version = aws_lambda_function.probe.version
}

resource "aws_iam_role" "sfn" {
  name               = "${var.name}-sfn"
  assume_role_policy = data.aws_iam_policy_document.states_trust.json
}

# The state machine's role may invoke the alias it runs (the qualified ARN: IAM is enforced).
resource "aws_iam_role_policy" "sfn" {
  name = "invoke-the-probe"
  role = aws_iam_role.sfn.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "lambda:InvokeFunction"
      Resource = [aws_lambda_alias.live.arn]
    }]
  })
}

resource "aws_sfn_state_machine" "small" {
  name     = var.name
  role_arn = aws_iam_role.sfn.arn
  # The role's policy exists before the first execution can invoke.
  depends_on = [aws_iam_role_policy.sfn]
  definition = jsonencode({
    StartAt = "Invoke"
    States = {
      Invoke = {
        Type       = "Task"
        Resource   = "arn:aws:states:::lambda:invoke"
        Parameters = { FunctionName = aws_lambda_alias.live.arn, "Payload.$" = "$" }
        OutputPath = "$.Payload.event"
        Next       = "Done"
      }
      Done = { Type = "Succeed" }
    }
  })
}

output "state_machine_arn" {
  value = aws_sfn_state_machine.small.arn
}
