variable "control_region" {
  description = "Region of the control plane (table, topic, functions). Prefer a region that is neither the primary nor the secondary of any service, so a primary outage does not take the control plane with it."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.control_region))
    error_message = "control_region must be an AWS region name such as us-west-2."
  }
}

variable "observer_regions" {
  description = "The three canary regions, for the aws.observer_a, aws.observer_b and aws.observer_c providers in that order."
  type        = list(string)
  default     = ["us-east-1", "us-west-2", "eu-west-1"]

  validation {
    condition     = length(var.observer_regions) == 3 && length(distinct(var.observer_regions)) == 3
    error_message = "observer_regions must list exactly three distinct regions."
  }

  validation {
    condition     = alltrue([for r in var.observer_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", r))])
    error_message = "observer_regions must be AWS region names such as eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of the control plane's names (table <prefix>-control, topic <prefix>-alerts, functions <prefix>-<function>)."
  type        = string
  default     = "failover"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "architecture" {
  description = "Lambda instruction set; must match `make package ARCH=...`."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alert topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be e-mail addresses."
  }
}

variable "escalation_interval_seconds" {
  description = "How often the reconciler re-alerts a stuck service."
  type        = number
  default     = 900

  validation {
    condition     = var.escalation_interval_seconds >= 60 && var.escalation_interval_seconds <= 86400
    error_message = "escalation_interval_seconds must be between 60 and 86400."
  }
}

variable "route53_calls_per_second" {
  description = "Route 53 API calls a second each function instance may make (ROUTE53_CALLS_PER_SECOND): 1 to 10. The account's Route 53 budget is shared with every other tool in it."
  type        = number
  default     = 4

  validation {
    condition     = var.route53_calls_per_second >= 1 && var.route53_calls_per_second <= 10 && floor(var.route53_calls_per_second) == var.route53_calls_per_second
    error_message = "route53_calls_per_second must be a whole number between 1 and 10."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups."
  type        = number
  default     = 365

  validation {
    condition     = var.log_retention_days >= 1
    error_message = "log_retention_days must be positive."
  }
}

variable "tags" {
  description = "Tags applied to every resource through the providers' default_tags."
  type        = map(string)
  default = {
    Project = "regional-failover"
  }
}

variable "checkout" {
  description = "The example protected service. Each field maps to the protected-service module variable of the same name (see modules/protected-service/variables.tf)."
  type = object({
    name             = string
    zone_id          = string
    record_name      = string
    primary_region   = string
    primary_fqdn     = string
    secondary_region = string
    secondary_fqdn   = string

    health_path           = optional(string, "/health/deep")
    health_check_interval = optional(number, 30)
    failure_threshold     = optional(number, 3)
    primary_child_fqdns   = optional(list(string), [])
    primary_child_quorum  = optional(number, 2)
    ttl                   = optional(number, 60)
    secondary_ttl         = optional(number, 300)
    primary_alias = optional(object({
      name    = string
      zone_id = string
    }))
    secondary_alias = optional(object({
      name    = string
      zone_id = string
    }))

    quorum                     = optional(number, 2)
    vote_window_seconds        = optional(number, 300)
    max_event_age_seconds      = optional(number, 300)
    cooldown_seconds           = optional(number, 3600)
    max_auto_failovers_per_day = optional(number, 1)
    enforce                    = optional(bool, false)
    secondary_health_check     = optional(bool, true)
    secondary_alarm_arn        = optional(string)
    # not_ready or ready; the module validates it.
    secondary_alarm_insufficient_data = optional(string, "not_ready")
    replica_lag = optional(object({
      region      = string
      namespace   = string
      metric_name = string
      dimensions  = optional(map(string), {})
      statistic   = optional(string, "Maximum")
      max_seconds = optional(number, 30)
      unit        = optional(string, "seconds")
    }))

    # health_check, metric or both; the module validates it.
    switch_mode                  = optional(string, "health_check")
    primary_probe                = optional(bool, true)
    failback_min_healthy_seconds = optional(number, 300)
    recovery_timeout_seconds     = optional(number, 600)
    readiness_interval_seconds   = optional(number, 300)

    canary_schedule = optional(string, "rate(1 minute)")

    # The runbook after the switch and the capacity pre-flight; the module validates them.
    workflow = optional(list(object({
      id                 = string
      kind               = string
      approval           = optional(string)
      region             = optional(string)
      name               = optional(string)
      min                = optional(number)
      max                = optional(number)
      desired            = optional(number)
      cluster            = optional(string)
      service            = optional(string)
      identifier         = optional(string)
      global_cluster     = optional(string)
      target_cluster_arn = optional(string)
      allow_data_loss    = optional(bool)
      function_arn       = optional(string)
      on_failback = optional(object({
        min     = optional(number)
        desired = number
      }))
    })), [])
    preflight_capacity = optional(object({
      kind     = string
      region   = string
      name     = optional(string)
      cluster  = optional(string)
      service  = optional(string)
      at_least = number
    }))
  })

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,32}$", var.checkout.name))
    error_message = "checkout.name must be 1-32 characters of A-Z, a-z, 0-9, '_', '.' and '-'."
  }

  validation {
    condition     = var.checkout.primary_region != var.checkout.secondary_region
    error_message = "checkout.primary_region and checkout.secondary_region must differ."
  }
}

variable "event_bus_name" {
  description = "The EventBridge bus (in the control region) every alert is also put on; `default` is the default bus. Another bus must exist: its name is set as EVENT_BUS_NAME on the functions."
  type        = string
  default     = "default"
}

variable "pagerduty" {
  description = "PagerDuty Events API v2 for the alerts' events, or null for none; see modules/integrations (routing_key_secret_arn: a Secrets Manager secret holding the routing key, set outside Terraform)."
  type = object({
    routing_key_secret_arn = string
    trigger_event_types    = optional(list(string), ["failover", "blocked", "held", "pending", "escalation", "drift", "catalog", "not_recovered", "approval", "step_failed", "workflow_declined", "readiness"])
    resolve_event_types    = optional(list(string), ["recovered", "failback"])
  })
  default = null
}

variable "alert_webhook" {
  description = "A webhook receiving the alerts in Alertmanager's webhook format, or null for none; see modules/integrations."
  type = object({
    endpoint             = string
    api_key_name         = optional(string, "Authorization")
    api_key_secret_arn   = string
    resolved_event_types = optional(list(string), ["recovered", "failback"])
  })
  default = null
}

variable "slack" {
  description = "A Slack channel for the alert topic through AWS Chatbot ({ team_id, channel_id }), or null for none. Authorise the workspace once in the Chatbot console first."
  type = object({
    team_id    = string
    channel_id = string
  })
  default = null
}

variable "operator_principals" {
  description = "IAM principal ARNs that may assume the operator role (every operator action)."
  type        = list(string)
  default     = []
}

variable "approver_principals" {
  description = "IAM principal ARNs that may assume the approver role (approve, decline, status)."
  type        = list(string)
  default     = []
}

variable "readonly_principals" {
  description = "IAM principal ARNs that may assume the read-only role (status)."
  type        = list(string)
  default     = []
}

variable "existing_trail_name" {
  description = "An existing trail that already records the operator function's data events; null creates one for exactly that function."
  type        = string
  default     = null
}
