data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  table_name = "${var.name_prefix}-control"
}

# One key for the table, the topic, the on-failure queue, the log groups and the
# functions' environment: one thing to rotate and audit, $1 a month.
resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: control table, alert topic, failure queue, logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
}

# Separate from the key so every statement can name the key's ARN.
resource "aws_kms_key_policy" "main" {
  key_id = aws_kms_key.main.id
  policy = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  # IAM policies in this account govern everything else (the functions' roles, deployers).
  statement {
    sid       = "AccountIam"
    actions   = ["kms:*"]
    resources = [aws_kms_key.main.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # Alarms and EventBridge rules publish to the encrypted topic.
  statement {
    sid       = "AlarmsAndRulesPublish"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }

    # Only on behalf of this account's alarms and rules (no confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "LogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = [aws_kms_key.main.arn]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# Catalog, state, votes and the audit history (see the README's "The control table").
resource "aws_dynamodb_table" "control" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # History items carry expires_at (90 days); state and catalog items do not expire.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.region
      error_message = "The control-plane module's aws provider is not in var.region."
    }
  }
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

# The functions publish through their IAM policies (same account); this policy lets
# the operational alarms and the early-warning rule publish too, and nobody else.
data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "OperationalAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:${var.name_prefix}-*"]
    }
  }

  statement {
    sid       = "EarlyWarningRules"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:${var.region}:${local.account_id}:rule/${var.name_prefix}-early-warnings-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

# Asynchronous invocations that failed every retry (or aged out) land here with the
# error and the original event; its depth is alarmed.
resource "aws_sqs_queue" "failures" {
  name                              = "${var.name_prefix}-async-failures"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600
}
