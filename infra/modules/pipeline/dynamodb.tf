# RB-003 §6.3.2 step 7 records deployments and rollbacks in bbws-deployments-<env>; the pipeline adds a
# lock per promotion (expiring through TTL), the approvals of each request, and the quality gates that
# the services' CI records per code hash (read by the next environment through the source reader).

resource "aws_dynamodb_table" "deployments" {
  name         = local.tables.deployments
  billing_mode = "PAY_PER_REQUEST"
  # The audit trail of promotions and approvals: a destroy must switch this off first.
  deletion_protection_enabled = var.deletion_protection
  hash_key                    = "deployment_id"

  attribute {
    name = "deployment_id"
    type = "S"
  }

  attribute {
    name = "service"
    type = "S"
  }

  attribute {
    name = "timestamp"
    type = "S"
  }

  # A service's records in time order (RFC 3339 timestamps): what a rollback returns to, and a
  # service's history for auditors.
  global_secondary_index {
    name            = "service-timestamp"
    hash_key        = "service"
    range_key       = "timestamp"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.pipeline.arn
  }
}

resource "aws_dynamodb_table" "locks" {
  name         = local.tables.locks
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "lock_id"

  attribute {
    name = "lock_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.pipeline.arn
  }
}

resource "aws_dynamodb_table" "approvals" {
  name         = local.tables.approvals
  billing_mode = "PAY_PER_REQUEST"
  # The audit trail of promotions and approvals: a destroy must switch this off first.
  deletion_protection_enabled = var.deletion_protection
  hash_key                    = "request_id"
  range_key                   = "item"

  attribute {
    name = "request_id"
    type = "S"
  }

  attribute {
    name = "item"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.pipeline.arn
  }
}

resource "aws_dynamodb_table" "quality_gates" {
  name         = local.tables.gates
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "code_sha256"
  range_key    = "gate"

  attribute {
    name = "code_sha256"
    type = "S"
  }

  attribute {
    name = "gate"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.pipeline.arn
  }
}
