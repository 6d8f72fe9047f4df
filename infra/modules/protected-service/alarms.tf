# Early warnings: they decide nothing; they tell humans that the primary is degrading
# or that the secondary is not ready. Their state changes reach the alert topic
# through the control region's bus (an alarm can only notify a topic in its own region).

locals {
  # With per-zone children the calculated check has no checkers of its own: watch each
  # child instead (child-1 is the first of primary_child_fqdns).
  percent_checks = local.calculated ? tomap({ for i, fqdn in var.primary_child_fqdns : "child-${i + 1}" => aws_route53_health_check.primary_child[fqdn].id }) : tomap({ primary = aws_route53_health_check.primary.id })
}

# Route 53 publishes health check metrics only in us-east-1, whatever the control region.
resource "aws_cloudwatch_metric_alarm" "primary_health" {
  provider = aws.us_east_1
  for_each = local.percent_checks

  alarm_name          = "${var.name}-health-${each.key}"
  alarm_description   = "Early warning for ${var.name}: some Route 53 checkers see the primary (${each.key}) unhealthy."
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckPercentageHealthy"
  dimensions          = { HealthCheckId = each.value }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.health_alarm_periods
  datapoints_to_alarm = var.health_alarm_periods
  threshold           = 100
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == "us-east-1"
      error_message = "The aws.us_east_1 provider must be in us-east-1, where Route 53 publishes its metrics."
    }
  }
}

# Replica lag over the pre-flight limit: a failover now would be blocked.
resource "aws_cloudwatch_metric_alarm" "replica_lag" {
  provider = aws.replica
  count    = var.replica_lag == null ? 0 : 1

  alarm_name          = "${var.name}-replica-lag"
  alarm_description   = "Early warning for ${var.name}: replica lag over ${var.replica_lag.max_seconds}s; the failover pre-flight would refuse."
  namespace           = var.replica_lag.namespace
  metric_name         = var.replica_lag.metric_name
  dimensions          = var.replica_lag.dimensions
  statistic           = var.replica_lag.statistic
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  # In the metric's unit, like the values it is compared with (max_seconds is seconds).
  threshold           = var.replica_lag.unit == "milliseconds" ? var.replica_lag.max_seconds * 1000 : var.replica_lag.max_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.replica_lag.region
      error_message = "The aws.replica provider is not in replica_lag.region."
    }
  }
}

# metric and both: the switch. The functions publish RegionalFailover/PrimaryForcedOut
# {Service = name} in this alarm's region (the secondary's, a regional data plane): 1 when
# failed over, 0 when the primary is active, every reconciler run. The alarm is in ALARM
# while the latest minute's maximum is 1; missing data keeps its state. Route 53 supports
# only standard-resolution metrics and the plain statistics here; the check that watches
# it is aws_route53_health_check.primary_switch.
resource "aws_cloudwatch_metric_alarm" "primary_switch" {
  provider = aws.secondary
  for_each = local.switch_keys

  alarm_name          = "${var.name}-primary-switch"
  alarm_description   = "Switch of ${var.name}: ALARM while the functions hold the primary out (RegionalFailover/PrimaryForcedOut = 1); watched by the PRIMARY record's health check. Decides nothing."
  namespace           = "RegionalFailover"
  metric_name         = "PrimaryForcedOut"
  dimensions          = { Service = var.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "ignore"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.secondary_region
      error_message = "The aws.secondary provider is not in secondary_region, where the switch metric is published."
    }
  }
}
