# One observer, in the region of this module's aws provider: a heartbeat canary GETs the
# service's public URL, and an alarm on its SuccessPercent is the observer's vote. Alarm
# state changes are emitted on this region's default bus; outside the control region a
# rule forwards them to the control region's default bus, where the control plane routes
# them to alarm-trigger.

locals {
  # Alarm period follows the schedule, so a slower schedule still fills every period.
  canary_minutes = can(regex("^rate\\(([0-9]+) minutes?\\)$", var.canary.schedule)) ? tonumber(regex("^rate\\(([0-9]+) minutes?\\)$", var.canary.schedule)[0]) : (
    can(regex("^rate\\(([0-9]+) hours?\\)$", var.canary.schedule)) ? tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.canary.schedule)[0]) * 60 : 5
  )
  canary_period = min(local.canary_minutes * 60, 3600)
}

# The canary's artifact bucket and execution role.
module "artifacts" {
  source = "../canary-artifacts"

  region         = var.region
  canary_name    = var.canary.name
  retention_days = var.canary.artifact_retention_days
}

resource "aws_synthetics_canary" "this" {
  name                     = var.canary.name
  artifact_s3_location     = "s3://${module.artifacts.bucket_name}/${var.canary.name}/"
  execution_role_arn       = module.artifacts.role_arn
  handler                  = "index.handler"
  runtime_version          = var.canary.runtime_version
  zip_file                 = var.canary.zip_file
  start_canary             = true
  delete_lambda            = true
  success_retention_period = 7
  failure_retention_period = 31

  schedule {
    expression = var.canary.schedule
  }

  run_config {
    timeout_in_seconds = var.canary.timeout_seconds
    environment_variables = {
      TARGET_URL = var.canary.url
      TIMEOUT_MS = tostring((var.canary.timeout_seconds - 5) * 1000)
    }
  }
}

# The vote. No alarm actions: EventBridge carries the state changes to alarm-trigger.
# Missing data (the canary itself not running) is not a vote either way: the alarm goes
# to INSUFFICIENT_DATA, which retracts it.
resource "aws_cloudwatch_metric_alarm" "canary" {
  alarm_name          = "${var.name}-canary-${var.region}"
  alarm_description   = "Observer vote for ${var.name}: ${var.canary.url} failing from ${var.region}."
  namespace           = "CloudWatchSynthetics"
  metric_name         = "SuccessPercent"
  dimensions          = { CanaryName = aws_synthetics_canary.this.name }
  statistic           = "Average"
  period              = local.canary_period
  evaluation_periods  = var.canary.alarm_periods
  datapoints_to_alarm = var.canary.alarm_periods
  threshold           = 100
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.region
      error_message = "The aws provider passed to this observer is not in var.region; check the providers map of the protected-service module."
    }
  }
}

# Alarms raised in the control region reach its bus directly.
resource "aws_cloudwatch_event_rule" "forward" {
  count = var.region == var.control.region ? 0 : 1

  name        = "${var.name}-observer-to-control"
  description = "${var.name}'s observer alarm in this region, to the control region's bus"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = [aws_cloudwatch_metric_alarm.canary.arn]
  })
}

# The role's ARN comes through its policy (see the protected-service module's events.tf):
# this target is created only once the role may put events on the control bus.
resource "aws_cloudwatch_event_target" "forward" {
  count = length(aws_cloudwatch_event_rule.forward)

  rule      = aws_cloudwatch_event_rule.forward[0].name
  target_id = "control-bus"
  arn       = var.control.bus_arn
  role_arn  = var.control.forwarder_role_arn
}
