variable "name_prefix" {
  description = "Prefix of every name this module creates (table, topic, functions, roles, alarms)."
  type        = string
  default     = "failover"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "region" {
  description = "The control region: the region of this module's default aws provider. Checked against the table's ARN."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as us-west-2."
  }
}

variable "artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip as built by `make package`. The default is relative to the working directory infra/."
  type        = string
  default     = "../target/lambda"

  validation {
    condition     = length(trimspace(var.artifacts_dir)) > 0
    error_message = "artifacts_dir must not be empty."
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

variable "policies" {
  description = "Rendered IAM policy JSON per function (the root builds them, since only it knows every service's health checks)."
  type = object({
    alarm_trigger = string
    operator      = string
    reconciler    = string
  })
}

variable "observer_alarm_arns" {
  description = "Every catalogued observer alarm ARN (all services): their state changes go to alarm-trigger."
  type        = list(string)

  validation {
    condition     = length(var.observer_alarm_arns) > 0
    error_message = "observer_alarm_arns must list at least one alarm ARN."
  }
}

variable "warning_alarm_arns" {
  description = "Early-warning alarm ARNs (any region; forwarded to this region's default bus) whose state changes go to the alert topic."
  type        = list(string)
  default     = []
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alert topic (each must confirm). Other protocols can subscribe outside this module."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be e-mail addresses."
  }
}

variable "escalation_interval_seconds" {
  description = "How often the reconciler re-alerts a stuck service (ESCALATION_INTERVAL_SECONDS)."
  type        = number
  default     = 900

  validation {
    condition     = var.escalation_interval_seconds >= 60 && var.escalation_interval_seconds <= 86400 && floor(var.escalation_interval_seconds) == var.escalation_interval_seconds
    error_message = "escalation_interval_seconds must be a whole number between 60 and 86400."
  }
}

variable "route53_calls_per_second" {
  description = "Route 53 API calls a second each function instance may make (ROUTE53_CALLS_PER_SECOND): 1 to 10. Route 53's budget is the account's (refilled at 10 a second, shared with every other tool), and each concurrent instance has its own bucket."
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
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "alarm_trigger_memory_mb" {
  description = "Memory of alarm-trigger."
  type        = number
  default     = 256

  validation {
    condition     = var.alarm_trigger_memory_mb >= 128 && var.alarm_trigger_memory_mb <= 10240
    error_message = "alarm_trigger_memory_mb must be between 128 and 10240."
  }
}

variable "alarm_trigger_timeout_seconds" {
  description = "Timeout of alarm-trigger; also the lease of a transition it owns. Route 53's control plane gets up to 20 s per call, twice on the deciding path, and the alert's round trip needs 9 s: keep it at 60 or more."
  type        = number
  default     = 60

  validation {
    condition     = var.alarm_trigger_timeout_seconds >= 30 && var.alarm_trigger_timeout_seconds <= 900
    error_message = "alarm_trigger_timeout_seconds must be between 30 and 900."
  }
}

variable "alarm_trigger_reserved_concurrency" {
  description = "Reserved concurrency of alarm-trigger: bounds the burst of one incident (observers x services) and guarantees capacity. -1 for none."
  type        = number
  default     = 10

  validation {
    condition     = var.alarm_trigger_reserved_concurrency >= -1
    error_message = "alarm_trigger_reserved_concurrency must be -1 (unreserved) or more."
  }
}

variable "operator_memory_mb" {
  description = "Memory of operator."
  type        = number
  default     = 256

  validation {
    condition     = var.operator_memory_mb >= 128 && var.operator_memory_mb <= 10240
    error_message = "operator_memory_mb must be between 128 and 10240."
  }
}

variable "operator_timeout_seconds" {
  description = "Timeout of operator."
  type        = number
  default     = 60

  validation {
    condition     = var.operator_timeout_seconds >= 5 && var.operator_timeout_seconds <= 900
    error_message = "operator_timeout_seconds must be between 5 and 900."
  }
}

variable "operator_reserved_concurrency" {
  description = "Reserved concurrency of operator (invoked by hand). -1 for none."
  type        = number
  default     = 2

  validation {
    condition     = var.operator_reserved_concurrency >= -1
    error_message = "operator_reserved_concurrency must be -1 (unreserved) or more."
  }
}

variable "reconciler_memory_mb" {
  description = "Memory of reconciler."
  type        = number
  default     = 256

  validation {
    condition     = var.reconciler_memory_mb >= 128 && var.reconciler_memory_mb <= 10240
    error_message = "reconciler_memory_mb must be between 128 and 10240."
  }
}

variable "reconciler_timeout_seconds" {
  description = "Timeout of reconciler; at most its one-minute schedule so runs do not pile up, and at least 45 s: a workflow step starts only with 12 s left (an invoke step with its function's 25 s timeout and 5 s more), and the reconciler retries them."
  type        = number
  default     = 55

  validation {
    condition     = var.reconciler_timeout_seconds >= 45 && var.reconciler_timeout_seconds <= 60
    error_message = "reconciler_timeout_seconds must be between 45 and 60: below 45 s the reconciler could never start a workflow's invoke step."
  }
}

variable "reconciler_reserved_concurrency" {
  description = "Reserved concurrency of reconciler: 1 keeps runs from overlapping. -1 for none."
  type        = number
  default     = 1

  validation {
    condition     = var.reconciler_reserved_concurrency >= -1
    error_message = "reconciler_reserved_concurrency must be -1 (unreserved) or more."
  }
}

variable "alarm_trigger_retry_attempts" {
  description = "Lambda retries of a failed asynchronous alarm-trigger invocation (a retry resumes the transition)."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.alarm_trigger_retry_attempts)
    error_message = "alarm_trigger_retry_attempts must be 0, 1 or 2."
  }
}

variable "alarm_trigger_max_event_age_seconds" {
  description = "Oldest event Lambda still delivers to alarm-trigger; keep it a little above the catalog's max_event_age_seconds."
  type        = number
  default     = 600

  validation {
    condition     = var.alarm_trigger_max_event_age_seconds >= 60 && var.alarm_trigger_max_event_age_seconds <= 21600
    error_message = "alarm_trigger_max_event_age_seconds must be between 60 and 21600."
  }
}

variable "reconciler_max_event_age_seconds" {
  description = "Oldest scheduled event Lambda still delivers to reconciler; the next run comes a minute later anyway."
  type        = number
  default     = 120

  validation {
    condition     = var.reconciler_max_event_age_seconds >= 60 && var.reconciler_max_event_age_seconds <= 21600
    error_message = "reconciler_max_event_age_seconds must be between 60 and 21600."
  }
}

variable "table_deletion_protection" {
  description = "Protect the control table (catalog, state, audit history) from deletion."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "fallback_alarm_actions" {
  description = "Extra actions (e.g. an SNS topic in another region wired to the pager) for the ALERT NOT DELIVERED alarm, whose usual path is the alert topic that failed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.fallback_alarm_actions : can(regex("^arn:", a))])
    error_message = "fallback_alarm_actions must be ARNs."
  }
}

variable "event_bus_name" {
  description = "The EventBridge bus every alert is also put on (source `regional-failover`); `default` is the control region's default bus. Another name is set as EVENT_BUS_NAME on the functions; the bus must exist in the control region."
  type        = string
  default     = "default"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.event_bus_name))
    error_message = "event_bus_name must be an event bus name (not an ARN): 1-256 characters of A-Z, a-z, 0-9, '.', '_' and '-'."
  }
}

variable "dashboard_services" {
  description = "Per protected service, what the dashboard shows: its name, its primary and secondary health check ids (and the probe's, or null), its secondary region (where the switch metric lives) and its replica lag metric (null when none)."
  type = list(object({
    name                      = string
    primary_health_check_id   = string
    secondary_health_check_id = string
    probe_health_check_id     = string
    secondary_region          = string
    replica_lag = object({
      region      = string
      namespace   = string
      metric_name = string
      dimensions  = map(string)
      statistic   = string
    })
  }))
  default = []
}
