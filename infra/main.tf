# Providers: the default one is the control region. The protected-service module takes
# exactly three observer providers plus us-east-1 (Route 53 metrics), the replica's region
# and the secondary's region; they are generic aliases whose regions come from variables.

provider "aws" {
  region = var.control_region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "observer_a"
  region = var.observer_regions[0]

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "observer_b"
  region = var.observer_regions[1]

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "observer_c"
  region = var.observer_regions[2]

  default_tags {
    tags = var.tags
  }
}

# Route 53 publishes health check metrics in us-east-1 only.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = var.tags
  }
}

# Where checkout's replica lag metric lives (its secondary region when none is set).
provider "aws" {
  alias  = "checkout_replica"
  region = coalesce(try(var.checkout.replica_lag.region, null), var.checkout.secondary_region)

  default_tags {
    tags = var.tags
  }
}

# checkout's secondary region: its switch alarm (switch_mode metric or both) lives there,
# beside the metric the functions publish.
provider "aws" {
  alias  = "checkout_secondary"
  region = var.checkout.secondary_region

  default_tags {
    tags = var.tags
  }
}

locals {
  # Every protected-service module block. A new service: add its module block (and a
  # replica provider), then list it here; IAM, EventBridge and alarms follow.
  services = [module.checkout]
}

module "control_plane" {
  source = "./modules/control-plane"

  name_prefix                 = var.name_prefix
  region                      = var.control_region
  artifacts_dir               = "${path.root}/../target/lambda"
  architecture                = var.architecture
  alert_emails                = var.alert_emails
  escalation_interval_seconds = var.escalation_interval_seconds
  route53_calls_per_second    = var.route53_calls_per_second
  log_retention_days          = var.log_retention_days

  event_bus_name     = var.event_bus_name
  dashboard_services = [for s in local.services : s.dashboard]

  observer_alarm_arns = flatten([for s in local.services : s.observer_alarm_arns])
  warning_alarm_arns  = flatten([for s in local.services : s.warning_alarm_arns])

  # Rendered in iam.tf from this module's own outputs and every service's health checks.
  policies = {
    alarm_trigger = data.aws_iam_policy_document.alarm_trigger.json
    operator      = data.aws_iam_policy_document.operator.json
    reconciler    = data.aws_iam_policy_document.reconciler.json
  }
}

# Optional targets of the alerts' EventBridge events (PagerDuty, an Alertmanager-format
# webhook) and a Slack channel for the topic; all off unless configured.
module "integrations" {
  source = "./modules/integrations"

  name_prefix    = var.name_prefix
  event_bus_name = module.control_plane.event_bus_name
  topic_arn      = module.control_plane.topic_arn
  kms_key_arn    = module.control_plane.kms_key_arn
  pagerduty      = var.pagerduty
  webhook        = var.alert_webhook
  slack          = var.slack
}

# Who may invoke the operator function, and CloudTrail data events of every invocation.
module "access" {
  source = "./modules/access"

  name_prefix            = var.name_prefix
  operator_function_name = module.control_plane.function_names.operator
  operator_function_arn  = module.control_plane.function_arns.operator
  operator_principals    = var.operator_principals
  approver_principals    = var.approver_principals
  readonly_principals    = var.readonly_principals
  existing_trail_name    = var.existing_trail_name
}

module "checkout" {
  source = "./modules/protected-service"

  providers = {
    aws            = aws
    aws.observer_a = aws.observer_a
    aws.observer_b = aws.observer_b
    aws.observer_c = aws.observer_c
    aws.us_east_1  = aws.us_east_1
    aws.replica    = aws.checkout_replica
    aws.secondary  = aws.checkout_secondary
  }

  name             = var.checkout.name
  control_region   = var.control_region
  observer_regions = var.observer_regions
  table_name       = module.control_plane.table_name

  zone_id          = var.checkout.zone_id
  record_name      = var.checkout.record_name
  primary_region   = var.checkout.primary_region
  primary_fqdn     = var.checkout.primary_fqdn
  secondary_region = var.checkout.secondary_region
  secondary_fqdn   = var.checkout.secondary_fqdn
  primary_alias    = var.checkout.primary_alias
  secondary_alias  = var.checkout.secondary_alias
  ttl              = var.checkout.ttl
  secondary_ttl    = var.checkout.secondary_ttl

  health_path           = var.checkout.health_path
  health_check_interval = var.checkout.health_check_interval
  failure_threshold     = var.checkout.failure_threshold
  primary_child_fqdns   = var.checkout.primary_child_fqdns
  primary_child_quorum  = var.checkout.primary_child_quorum

  quorum                     = var.checkout.quorum
  vote_window_seconds        = var.checkout.vote_window_seconds
  max_event_age_seconds      = var.checkout.max_event_age_seconds
  cooldown_seconds           = var.checkout.cooldown_seconds
  max_auto_failovers_per_day = var.checkout.max_auto_failovers_per_day
  enforce                    = var.checkout.enforce
  secondary_health_check     = var.checkout.secondary_health_check
  secondary_alarm_arn        = var.checkout.secondary_alarm_arn
  replica_lag                = var.checkout.replica_lag

  secondary_alarm_insufficient_data = var.checkout.secondary_alarm_insufficient_data

  switch_mode                  = var.checkout.switch_mode
  primary_probe                = var.checkout.primary_probe
  failback_min_healthy_seconds = var.checkout.failback_min_healthy_seconds
  recovery_timeout_seconds     = var.checkout.recovery_timeout_seconds
  readiness_interval_seconds   = var.checkout.readiness_interval_seconds

  canary_schedule = var.checkout.canary_schedule

  workflow           = var.checkout.workflow
  preflight_capacity = var.checkout.preflight_capacity
}
