# The alerts' EventBridge events (source "regional-failover", detail-type = the event
# type) delivered to the on-call's tools: PagerDuty's Events API v2 and a generic
# Alertmanager-format webhook, through API destinations, each optional. What a delivery
# still fails after its retries lands in a queue that is alarmed.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # What the functions put on the bus.
  event_source = "regional-failover"
  event_types  = ["failover", "failback", "blocked", "held", "pending", "escalation", "drift", "pause", "resume", "catalog", "recovered", "not_recovered", "approval", "step_done", "step_failed", "workflow_declined", "readiness"]

  pagerduty_enabled = var.pagerduty != null
  webhook_enabled   = var.webhook != null
  any_enabled       = local.pagerduty_enabled || local.webhook_enabled

  # Read from Secrets Manager at plan time: the secret's value is set outside Terraform.
  # It ends up in the state and in the rule target (sensitive, not in plan output).
  routing_key = local.pagerduty_enabled ? data.aws_secretsmanager_secret_version.pagerduty[0].secret_string : ""

  # The transformers read these detail fields and nothing else. EventBridge escapes each
  # value for the JSON template; strings stay quoted, epoch (a number) does not.
  pagerduty_trigger_paths = {
    dedup_key   = "$.detail.dedup_key"
    subject     = "$.detail.subject"
    severity    = "$.detail.severity"
    service     = "$.detail.service"
    event_type  = "$.detail.event_type"
    summary     = "$.detail.summary"
    epoch       = "$.detail.epoch"
    runbook_url = "$.detail.runbook_url"
  }

  # Events API v2: dedup_key is <service>#<epoch>, so a failover and its recovered (or
  # failback) are one PagerDuty incident, triggered then resolved.
  pagerduty_trigger_template = <<-EOT
    {
      "routing_key": ${jsonencode(local.routing_key)},
      "event_action": "trigger",
      "dedup_key": "<dedup_key>",
      "payload": {
        "summary": "<subject>",
        "severity": "<severity>",
        "source": "<service>",
        "component": "<service>",
        "group": "${local.event_source}",
        "class": "<event_type>",
        "custom_details": {"summary": "<summary>", "epoch": <epoch>, "runbook_url": "<runbook_url>"}
      }
    }
  EOT

  pagerduty_resolve_paths = {
    dedup_key = "$.detail.dedup_key"
  }

  pagerduty_resolve_template = <<-EOT
    {
      "routing_key": ${jsonencode(local.routing_key)},
      "event_action": "resolve",
      "dedup_key": "<dedup_key>"
    }
  EOT

  webhook_paths = {
    event_type  = "$.detail.event_type"
    service     = "$.detail.service"
    severity    = "$.detail.severity"
    summary     = "$.detail.summary"
    runbook_url = "$.detail.runbook_url"
    dedup_key   = "$.detail.dedup_key"
  }

  # Alertmanager's webhook payload, version 4: one alert per event. groupKey and
  # fingerprint are the dedup_key, which pairs a failover with its recovery.
  webhook_templates = {
    for status in ["firing", "resolved"] : status => <<-EOT
      {
        "version": "4",
        "receiver": "${var.name_prefix}",
        "status": "${status}",
        "groupKey": "<dedup_key>",
        "truncatedAlerts": 0,
        "externalURL": "",
        "groupLabels": {"service": "<service>"},
        "commonLabels": {"alertname": "<event_type>", "service": "<service>", "severity": "<severity>"},
        "commonAnnotations": {"summary": "<summary>", "runbook_url": "<runbook_url>"},
        "alerts": [
          {
            "status": "${status}",
            "labels": {"alertname": "<event_type>", "service": "<service>", "severity": "<severity>"},
            "annotations": {"summary": "<summary>", "runbook_url": "<runbook_url>"},
            "startsAt": "<aws.events.event.ingestion-time>",
            "endsAt": "${status == "firing" ? "0001-01-01T00:00:00Z" : "<aws.events.event.ingestion-time>"}",
            "generatorURL": "<runbook_url>",
            "fingerprint": "<dedup_key>"
          }
        ]
      }
    EOT
  }

  webhook_resolved_types = local.webhook_enabled ? var.webhook.resolved_event_types : []

  # One rule and target per route; a disabled integration has none.
  routes = {
    pagerduty-trigger = {
      enabled     = local.pagerduty_enabled
      destination = "pagerduty"
      event_types = local.pagerduty_enabled ? var.pagerduty.trigger_event_types : []
      severities  = ["critical", "warning"]
      paths       = local.pagerduty_trigger_paths
      template    = local.pagerduty_trigger_template
    }
    pagerduty-resolve = {
      enabled     = local.pagerduty_enabled
      destination = "pagerduty"
      event_types = local.pagerduty_enabled ? var.pagerduty.resolve_event_types : []
      severities  = ["critical", "warning", "info"]
      paths       = local.pagerduty_resolve_paths
      template    = local.pagerduty_resolve_template
    }
    webhook-firing = {
      enabled     = local.webhook_enabled
      destination = "webhook"
      event_types = [for t in local.event_types : t if !contains(local.webhook_resolved_types, t)]
      severities  = ["critical", "warning", "info"]
      paths       = local.webhook_paths
      template    = local.webhook_templates["firing"]
    }
    webhook-resolved = {
      enabled     = local.webhook_enabled
      destination = "webhook"
      event_types = local.webhook_resolved_types
      severities  = ["critical", "warning", "info"]
      paths       = local.webhook_paths
      template    = local.webhook_templates["resolved"]
    }
  }
  enabled_routes = { for name, r in local.routes : name => r if r.enabled }

  destination_arns = {
    for name, d in { pagerduty = aws_cloudwatch_event_api_destination.pagerduty, webhook = aws_cloudwatch_event_api_destination.webhook } :
    name => d[0].arn if length(d) > 0
  }
  api_destination_arns = [for name, arn in local.destination_arns : arn]
}

data "aws_secretsmanager_secret_version" "pagerduty" {
  count = local.pagerduty_enabled ? 1 : 0

  secret_id = var.pagerduty.routing_key_secret_arn
}

data "aws_secretsmanager_secret_version" "webhook" {
  count = local.webhook_enabled ? 1 : 0

  secret_id = var.webhook.api_key_secret_arn
}

# A connection needs an authorization. PagerDuty's Events API reads the routing key from
# the body; the same key as a header is ignored by it and keeps the connection valid.
resource "aws_cloudwatch_event_connection" "pagerduty" {
  count = local.pagerduty_enabled ? 1 : 0

  name               = "${var.name_prefix}-pagerduty"
  description        = "PagerDuty Events API v2"
  authorization_type = "API_KEY"

  auth_parameters {
    api_key {
      key   = "X-Routing-Key"
      value = local.routing_key
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "pagerduty" {
  count = local.pagerduty_enabled ? 1 : 0

  name                             = "${var.name_prefix}-pagerduty"
  description                      = "PagerDuty Events API v2 enqueue"
  invocation_endpoint              = "https://events.pagerduty.com/v2/enqueue"
  http_method                      = "POST"
  invocation_rate_limit_per_second = var.rate_limit_per_second
  connection_arn                   = aws_cloudwatch_event_connection.pagerduty[0].arn
}

resource "aws_cloudwatch_event_connection" "webhook" {
  count = local.webhook_enabled ? 1 : 0

  name               = "${var.name_prefix}-webhook"
  description        = "Alertmanager-format webhook"
  authorization_type = "API_KEY"

  auth_parameters {
    api_key {
      key   = var.webhook.api_key_name
      value = data.aws_secretsmanager_secret_version.webhook[0].secret_string
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "webhook" {
  count = local.webhook_enabled ? 1 : 0

  name                             = "${var.name_prefix}-webhook"
  description                      = "Alertmanager-format webhook"
  invocation_endpoint              = var.webhook.endpoint
  http_method                      = "POST"
  invocation_rate_limit_per_second = var.rate_limit_per_second
  connection_arn                   = aws_cloudwatch_event_connection.webhook[0].arn
}

resource "aws_cloudwatch_event_rule" "route" {
  for_each = local.enabled_routes

  name           = "${var.name_prefix}-${each.key}"
  description    = "Alerts (${join(", ", each.value.event_types)}) to ${each.value.destination}"
  event_bus_name = var.event_bus_name

  event_pattern = jsonencode({
    source        = [local.event_source]
    "detail-type" = each.value.event_types
    detail        = { severity = each.value.severities }
  })
}

resource "aws_cloudwatch_event_target" "route" {
  for_each = local.enabled_routes

  rule           = aws_cloudwatch_event_rule.route[each.key].name
  event_bus_name = var.event_bus_name
  target_id      = each.value.destination
  arn            = local.destination_arns[each.value.destination]
  role_arn       = aws_iam_role.events[0].arn

  input_transformer {
    input_paths    = each.value.paths
    input_template = each.value.template
  }

  # A page an hour late is still worth having; after that it is in the queue.
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }

  dead_letter_config {
    arn = aws_sqs_queue.delivery_failures[0].arn
  }
}

data "aws_iam_policy_document" "events_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  count = local.any_enabled ? 1 : 0

  name               = "${var.name_prefix}-integrations"
  description        = "EventBridge invoking the alert integrations' API destinations"
  assume_role_policy = data.aws_iam_policy_document.events_trust.json
}

# Exactly the API destinations this module creates, nothing else.
data "aws_iam_policy_document" "invoke_destinations" {
  statement {
    sid       = "InvokeApiDestinations"
    actions   = ["events:InvokeApiDestination"]
    resources = local.api_destination_arns
  }
}

resource "aws_iam_role_policy" "events" {
  count = local.any_enabled ? 1 : 0

  name   = "invoke-api-destinations"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.invoke_destinations.json
}

resource "aws_sqs_queue" "delivery_failures" {
  count = local.any_enabled ? 1 : 0

  name                              = "${var.name_prefix}-integration-failures"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
}

data "aws_iam_policy_document" "delivery_failures" {
  statement {
    sid       = "RulesDeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = aws_sqs_queue.delivery_failures[*].arn

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.route : r.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "delivery_failures" {
  count = local.any_enabled ? 1 : 0

  queue_url = aws_sqs_queue.delivery_failures[0].id
  policy    = data.aws_iam_policy_document.delivery_failures.json
}

resource "aws_cloudwatch_metric_alarm" "delivery_failures" {
  count = local.any_enabled ? 1 : 0

  alarm_name          = "${var.name_prefix}-integration-failures"
  alarm_description   = "An alert event could not be delivered to PagerDuty or the webhook after an hour of retries; the event and the error are in ${aws_sqs_queue.delivery_failures[0].name}. The alert topic still had it."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.delivery_failures[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.topic_arn]
  ok_actions          = [var.topic_arn]
}
