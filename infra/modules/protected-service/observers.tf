# Three observers, one per observer region: a heartbeat canary, the alarm on its
# SuccessPercent (the observer's vote) and, outside the control region, the rule that
# forwards the alarm's state changes to the control region (modules/observer). A module's
# provider cannot be chosen by for_each, so there is one module block per observer
# provider; everything else they share is below.

locals {
  canary_script = "${path.module}/canary/nodejs/node_modules/index.js"

  canary = {
    name                    = local.canary_name
    url                     = local.canary_url
    zip_file                = data.archive_file.canary.output_path
    runtime_version         = var.canary_runtime_version
    schedule                = var.canary_schedule
    timeout_seconds         = var.canary_timeout_seconds
    alarm_periods           = var.canary_alarm_periods
    artifact_retention_days = var.artifact_retention_days
  }

  control = {
    region             = var.control_region
    bus_arn            = local.control_bus_arn
    forwarder_role_arn = local.forwarder_role_arn
  }
}

# Synthetics wants the script at nodejs/node_modules/index.js inside the zip. The zip's
# name carries the script's hash so that a changed script updates the canaries.
data "archive_file" "canary" {
  type        = "zip"
  source_dir  = "${path.module}/canary"
  output_path = "${path.root}/.terraform/tmp/canary-${filemd5(local.canary_script)}.zip"
}

module "observer_a" {
  source    = "../observer"
  providers = { aws = aws.observer_a }

  name    = var.name
  region  = var.observer_regions[0]
  canary  = local.canary
  control = local.control
}

module "observer_b" {
  source    = "../observer"
  providers = { aws = aws.observer_b }

  name    = var.name
  region  = var.observer_regions[1]
  canary  = local.canary
  control = local.control
}

module "observer_c" {
  source    = "../observer"
  providers = { aws = aws.observer_c }

  name    = var.name
  region  = var.observer_regions[2]
  canary  = local.canary
  control = local.control
}
