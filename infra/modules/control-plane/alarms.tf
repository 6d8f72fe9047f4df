# Alarms on the control plane itself; all notify the alert topic, on ALARM and on OK.

locals {
  # Keyed by the function's crate name ("alarm-trigger"), which names its alarms.
  function_names  = { for key, f in local.functions : f.name => aws_lambda_function.function[key].function_name }
  log_group_names = { for key, f in local.functions : f.name => aws_cloudwatch_log_group.function[key].name }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = local.function_names

  alarm_name          = "${var.name_prefix}-${each.key}-errors"
  alarm_description   = "${each.key} failed an invocation (crash, timeout or a failed step); see its log group."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "failures_queue" {
  alarm_name          = "${var.name_prefix}-async-failures"
  alarm_description   = "An asynchronous invocation failed all its retries; the event and error are in ${aws_sqs_queue.failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# The reconciler's EMF heartbeat; missing data is breaching so a dead control plane
# (no runs, no metrics) pages too.
resource "aws_cloudwatch_metric_alarm" "heartbeat" {
  alarm_name          = "${var.name_prefix}-reconciler-heartbeat"
  alarm_description   = "The reconciler has not completed a run for 5 minutes: interrupted transitions are not resumed and drift is not caught."
  namespace           = "RegionalFailover"
  metric_name         = "ReconcilerRuns"
  dimensions          = { Function = "reconciler" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# AlertsLost is emitted per service (dimensions Function, Service), which one alarm
# cannot cover; the log line that goes with it is counted here instead.
resource "aws_cloudwatch_log_metric_filter" "alerts_lost" {
  for_each = local.log_group_names

  name           = "${var.name_prefix}-${each.key}-alerts-lost"
  log_group_name = each.value
  pattern        = "\"ALERT NOT DELIVERED\""

  metric_transformation {
    name      = "AlertsNotDelivered"
    namespace = "RegionalFailover"
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "alerts_lost" {
  alarm_name          = "${var.name_prefix}-alerts-not-delivered"
  alarm_description   = "A transition's alert could not be delivered and is recorded as sent: search the function logs for ALERT NOT DELIVERED and page the on-call by hand."
  namespace           = "RegionalFailover"
  metric_name         = "AlertsNotDelivered"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  # The alert topic is what just failed: also notify an independent path when one is given.
  alarm_actions = concat([aws_sns_topic.alerts.arn], var.fallback_alarm_actions)

  depends_on = [aws_cloudwatch_log_metric_filter.alerts_lost]
}
