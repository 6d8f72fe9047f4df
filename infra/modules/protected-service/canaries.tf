# Three observers: a heartbeat canary per observer region GETs the public URL, and an
# alarm on its SuccessPercent is that observer's vote. Written out per region because
# a resource's provider cannot be chosen by for_each.

locals {
  canary_script = "${path.module}/canary/nodejs/node_modules/index.js"

  # Alarm period follows the schedule, so a slower schedule still fills every period.
  canary_minutes = can(regex("^rate\\(([0-9]+) minutes?\\)$", var.canary_schedule)) ? tonumber(regex("^rate\\(([0-9]+) minutes?\\)$", var.canary_schedule)[0]) : (
    can(regex("^rate\\(([0-9]+) hours?\\)$", var.canary_schedule)) ? tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.canary_schedule)[0]) * 60 : 5
  )
  canary_period = min(local.canary_minutes * 60, 3600)

  canary_environment = {
    TARGET_URL = local.canary_url
    TIMEOUT_MS = tostring((var.canary_timeout_seconds - 5) * 1000)
  }
}

# Synthetics wants the script at nodejs/node_modules/index.js inside the zip. The zip's
# name carries the script's hash so that a changed script updates the canaries.
data "archive_file" "canary" {
  type        = "zip"
  source_dir  = "${path.module}/canary"
  output_path = "${path.root}/.terraform/tmp/canary-${filemd5(local.canary_script)}.zip"
}

module "artifacts_a" {
  source    = "../canary-artifacts"
  providers = { aws = aws.observer_a }

  region         = var.observer_regions[0]
  canary_name    = local.canary_name
  retention_days = var.artifact_retention_days
}

module "artifacts_b" {
  source    = "../canary-artifacts"
  providers = { aws = aws.observer_b }

  region         = var.observer_regions[1]
  canary_name    = local.canary_name
  retention_days = var.artifact_retention_days
}

module "artifacts_c" {
  source    = "../canary-artifacts"
  providers = { aws = aws.observer_c }

  region         = var.observer_regions[2]
  canary_name    = local.canary_name
  retention_days = var.artifact_retention_days
}

resource "aws_synthetics_canary" "a" {
  provider = aws.observer_a

  name                     = local.canary_name
  artifact_s3_location     = "s3://${module.artifacts_a.bucket_name}/${local.canary_name}/"
  execution_role_arn       = module.artifacts_a.role_arn
  handler                  = "index.handler"
  runtime_version          = var.canary_runtime_version
  zip_file                 = data.archive_file.canary.output_path
  start_canary             = true
  delete_lambda            = true
  success_retention_period = 7
  failure_retention_period = 31

  schedule {
    expression = var.canary_schedule
  }

  run_config {
    timeout_in_seconds    = var.canary_timeout_seconds
    environment_variables = local.canary_environment
  }
}

resource "aws_synthetics_canary" "b" {
  provider = aws.observer_b

  name                     = local.canary_name
  artifact_s3_location     = "s3://${module.artifacts_b.bucket_name}/${local.canary_name}/"
  execution_role_arn       = module.artifacts_b.role_arn
  handler                  = "index.handler"
  runtime_version          = var.canary_runtime_version
  zip_file                 = data.archive_file.canary.output_path
  start_canary             = true
  delete_lambda            = true
  success_retention_period = 7
  failure_retention_period = 31

  schedule {
    expression = var.canary_schedule
  }

  run_config {
    timeout_in_seconds    = var.canary_timeout_seconds
    environment_variables = local.canary_environment
  }
}

resource "aws_synthetics_canary" "c" {
  provider = aws.observer_c

  name                     = local.canary_name
  artifact_s3_location     = "s3://${module.artifacts_c.bucket_name}/${local.canary_name}/"
  execution_role_arn       = module.artifacts_c.role_arn
  handler                  = "index.handler"
  runtime_version          = var.canary_runtime_version
  zip_file                 = data.archive_file.canary.output_path
  start_canary             = true
  delete_lambda            = true
  success_retention_period = 7
  failure_retention_period = 31

  schedule {
    expression = var.canary_schedule
  }

  run_config {
    timeout_in_seconds    = var.canary_timeout_seconds
    environment_variables = local.canary_environment
  }
}

# The votes. No alarm actions: EventBridge carries the state changes to alarm-trigger.
# Missing data (the canary itself not running) is not a vote either way: the alarm
# goes to INSUFFICIENT_DATA, which retracts it.
resource "aws_cloudwatch_metric_alarm" "canary_a" {
  provider = aws.observer_a

  alarm_name          = "${var.name}-canary-${var.observer_regions[0]}"
  alarm_description   = "Observer vote for ${var.name}: ${local.canary_url} failing from ${var.observer_regions[0]}."
  namespace           = "CloudWatchSynthetics"
  metric_name         = "SuccessPercent"
  dimensions          = { CanaryName = aws_synthetics_canary.a.name }
  statistic           = "Average"
  period              = local.canary_period
  evaluation_periods  = var.canary_alarm_periods
  datapoints_to_alarm = var.canary_alarm_periods
  threshold           = 100
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.observer_regions[0]
      error_message = "The aws.observer_a provider is not in observer_regions[0]."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "canary_b" {
  provider = aws.observer_b

  alarm_name          = "${var.name}-canary-${var.observer_regions[1]}"
  alarm_description   = "Observer vote for ${var.name}: ${local.canary_url} failing from ${var.observer_regions[1]}."
  namespace           = "CloudWatchSynthetics"
  metric_name         = "SuccessPercent"
  dimensions          = { CanaryName = aws_synthetics_canary.b.name }
  statistic           = "Average"
  period              = local.canary_period
  evaluation_periods  = var.canary_alarm_periods
  datapoints_to_alarm = var.canary_alarm_periods
  threshold           = 100
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.observer_regions[1]
      error_message = "The aws.observer_b provider is not in observer_regions[1]."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "canary_c" {
  provider = aws.observer_c

  alarm_name          = "${var.name}-canary-${var.observer_regions[2]}"
  alarm_description   = "Observer vote for ${var.name}: ${local.canary_url} failing from ${var.observer_regions[2]}."
  namespace           = "CloudWatchSynthetics"
  metric_name         = "SuccessPercent"
  dimensions          = { CanaryName = aws_synthetics_canary.c.name }
  statistic           = "Average"
  period              = local.canary_period
  evaluation_periods  = var.canary_alarm_periods
  datapoints_to_alarm = var.canary_alarm_periods
  threshold           = 100
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == var.observer_regions[2]
      error_message = "The aws.observer_c provider is not in observer_regions[2]."
    }
  }
}
