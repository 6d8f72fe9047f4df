# Alarms on a deployment that is wired wrong rather than broken: a catalog entry that does
# not parse, an alarm on the bus that no catalog entry names, an alert that was lost. All
# notify the alert topic; no data means nothing went wrong.

# CatalogErrors is emitted with the dimension Function only, by every function at each
# catalog read. A Metrics Insights query sums it over the three, so one bad entry is one
# alarm, not three.
resource "aws_cloudwatch_metric_alarm" "catalog_errors" {
  alarm_name          = "${var.name_prefix}-catalog-errors"
  alarm_description   = "A catalog entry does not parse: its service runs on its last good definition, or is unprotected if it never parsed. The operator's status names the field; see the functions' logs."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "catalog_errors"
    expression  = "SELECT MAX(CatalogErrors) FROM SCHEMA(\"RegionalFailover\", Function)"
    period      = 300
    return_data = true
  }
}

# IgnoredEvents carries its reason as an EMF property, not a dimension, so no metric
# exists per reason. The filter matches the EMF line itself: shared/src/metrics.rs writes
# one JSON object a line with the metric value at the top level ("IgnoredEvents": 1.0)
# and each property beside it ("reason": "unknown_observer").
resource "aws_cloudwatch_log_metric_filter" "unknown_observer" {
  for_each = local.log_group_names

  name           = "${var.name_prefix}-${each.key}-unknown-observer"
  log_group_name = each.value
  pattern        = "{ ($.reason = \"unknown_observer\") && ($.IgnoredEvents > 0) }"

  metric_transformation {
    name      = "UnknownObserverEvents"
    namespace = "RegionalFailover"
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "unknown_observer" {
  alarm_name          = "${var.name_prefix}-unknown-observer"
  alarm_description   = "An alarm state change reached alarm-trigger from an alarm no catalog entry names: an observer wired to the bus but missing from the catalog (or a typo in its ARN) does not vote. Search the logs for unknown_observer."
  namespace           = "RegionalFailover"
  metric_name         = "UnknownObserverEvents"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  depends_on = [aws_cloudwatch_log_metric_filter.unknown_observer]
}

# AlertsLost is emitted per service (Function, Service): a Metrics Insights query sums it
# over every series, services added later included.
resource "aws_cloudwatch_metric_alarm" "alerts_lost_metric" {
  alarm_name          = "${var.name_prefix}-alerts-lost"
  alarm_description   = "AlertsLost > 0: a transition's alert could not be delivered. The audit history has the transition; page the on-call by hand."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  # The alert topic may be what failed: the fallback actions too.
  alarm_actions = concat([aws_sns_topic.alerts.arn], var.fallback_alarm_actions)
  ok_actions    = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "alerts_lost"
    expression  = "SELECT SUM(AlertsLost) FROM SCHEMA(\"RegionalFailover\", Function, Service)"
    period      = 60
    return_data = true
  }
}
