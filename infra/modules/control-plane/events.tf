locals {
  # An event pattern is limited to 2048 characters by default: 16 alarm ARNs of this
  # project's length fit in one rule, so the ARNs are spread over as many rules as needed.
  arns_per_rule = 16
}

# Observer alarms raised in this region arrive on its default bus directly; those of
# other regions are forwarded here by each protected service's cross-region rules.
resource "aws_cloudwatch_event_rule" "observers" {
  count = ceil(length(var.observer_alarm_arns) / local.arns_per_rule)

  name        = "${var.name_prefix}-observer-alarms-${count.index}"
  description = "State changes of the catalogued observer alarms, to alarm-trigger"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = slice(var.observer_alarm_arns, count.index * local.arns_per_rule, min(length(var.observer_alarm_arns), (count.index + 1) * local.arns_per_rule))
  })
}

resource "aws_cloudwatch_event_target" "observers" {
  count = length(aws_cloudwatch_event_rule.observers)

  rule      = aws_cloudwatch_event_rule.observers[count.index].name
  target_id = "alarm-trigger"
  arn       = aws_lambda_function.function["alarm_trigger"].arn
}

resource "aws_lambda_permission" "observers" {
  count = length(aws_cloudwatch_event_rule.observers)

  statement_id  = "ObserverAlarms${count.index}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["alarm_trigger"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.observers[count.index].arn
}

resource "aws_cloudwatch_event_rule" "reconciler" {
  name                = "${var.name_prefix}-reconciler"
  description         = "Runs the reconciler every minute"
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "reconciler" {
  rule      = aws_cloudwatch_event_rule.reconciler.name
  target_id = "reconciler"
  arn       = aws_lambda_function.function["reconciler"].arn
}

resource "aws_lambda_permission" "reconciler" {
  statement_id  = "Schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["reconciler"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconciler.arn
}

# Early-warning alarms live where their metrics do (Route 53's in us-east-1, a replica's
# in its region) and an alarm can only notify a topic in its own region, so their state
# changes travel over EventBridge like the observers' and are published here.
resource "aws_cloudwatch_event_rule" "warnings" {
  count = ceil(length(var.warning_alarm_arns) / local.arns_per_rule)

  name        = "${var.name_prefix}-early-warnings-${count.index}"
  description = "State changes of the early-warning alarms, to the alert topic"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = slice(var.warning_alarm_arns, count.index * local.arns_per_rule, min(length(var.warning_alarm_arns), (count.index + 1) * local.arns_per_rule))
  })
}

resource "aws_cloudwatch_event_target" "warnings" {
  count = length(aws_cloudwatch_event_rule.warnings)

  rule      = aws_cloudwatch_event_rule.warnings[count.index].name
  target_id = "alert-topic"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      alarm  = "$.detail.alarmName"
      state  = "$.detail.state.value"
      region = "$.region"
      time   = "$.time"
    }
    input_template = "\"[WARNING] <alarm> (<region>) is <state> since <time>. An early warning, not a failover decision.\""
  }
}
