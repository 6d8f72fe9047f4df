# ---- identity and placement ------------------------------------------------------

variable "name" {
  description = "Service name: the catalog key, and the prefix of this service's alarm, rule and role names."
  type        = string

  validation {
    # The catalog allows 80 characters; IAM role and EventBridge rule names allow 64, so 32 here.
    condition     = can(regex("^[A-Za-z0-9_.-]{1,32}$", var.name))
    error_message = "name must be 1-32 characters of A-Z, a-z, 0-9, '_', '.' and '-'."
  }
}

variable "control_region" {
  description = "Region of the control plane (its default event bus receives this service's alarm events)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.control_region))
    error_message = "control_region must be an AWS region name such as us-west-2."
  }
}

variable "observer_regions" {
  description = "Regions of the aws.observer_a, aws.observer_b and aws.observer_c providers, in that order (one canary each)."
  type        = list(string)

  validation {
    condition     = length(var.observer_regions) == 3 && length(distinct(var.observer_regions)) == 3
    error_message = "observer_regions must list exactly three distinct regions (the module's shape: three observer providers)."
  }

  validation {
    condition     = alltrue([for r in var.observer_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", r))])
    error_message = "observer_regions must be AWS region names such as us-west-2."
  }
}

variable "table_name" {
  description = "The control table that receives this service's catalog item."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be a DynamoDB table name."
  }
}

variable "primary_region" {
  description = "Region that normally serves the service."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.primary_region))
    error_message = "primary_region must be an AWS region name such as us-east-1."
  }
}

variable "secondary_region" {
  description = "Region that takes over on failover; must differ from primary_region."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.secondary_region))
    error_message = "secondary_region must be an AWS region name such as eu-west-1."
  }
}

# ---- health checks ------------------------------------------------------------------

variable "primary_fqdn" {
  description = "Host name of the primary regional endpoint: health-checked, and the CNAME target of a plain primary record."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", var.primary_fqdn))
    error_message = "primary_fqdn must be a host name without scheme or path."
  }
}

variable "secondary_fqdn" {
  description = "Host name of the secondary regional endpoint: health-checked, and the CNAME target of a plain secondary record."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", var.secondary_fqdn))
    error_message = "secondary_fqdn must be a host name without scheme or path."
  }
}

variable "health_path" {
  description = "Deep health path (checks the service's dependencies, not just the process), used by the health checks and the canaries."
  type        = string
  default     = "/health/deep"

  validation {
    condition     = can(regex("^/[^\\s]{0,254}$", var.health_path))
    error_message = "health_path must start with '/' and contain no spaces."
  }
}

variable "health_port" {
  description = "HTTPS port of the health checks."
  type        = number
  default     = 443

  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535
    error_message = "health_port must be between 1 and 65535."
  }
}

variable "health_check_interval" {
  description = "Seconds between checks from each Route 53 checker: 30 (standard) or 10 (fast, billed extra)."
  type        = number
  default     = 30

  validation {
    condition     = contains([10, 30], var.health_check_interval)
    error_message = "health_check_interval must be 10 or 30."
  }
}

variable "failure_threshold" {
  description = "Consecutive failed checks before a checker reports the endpoint unhealthy."
  type        = number
  default     = 3

  validation {
    condition     = var.failure_threshold >= 1 && var.failure_threshold <= 10
    error_message = "failure_threshold must be between 1 and 10."
  }
}

variable "health_check_regions" {
  description = "Route 53 checker regions (at least 3); null for Route 53's default set."
  type        = list(string)
  default     = null

  validation {
    condition     = var.health_check_regions == null ? true : length(var.health_check_regions) >= 3
    error_message = "health_check_regions must list at least 3 regions, or be null."
  }
}

variable "health_search_string" {
  description = "Text the health response body must contain (HTTPS_STR_MATCH, billed extra); null for a status-code check."
  type        = string
  default     = null

  validation {
    condition     = var.health_search_string == null ? true : (length(var.health_search_string) >= 1 && length(var.health_search_string) <= 255)
    error_message = "health_search_string must be 1-255 characters, or null."
  }
}

variable "primary_child_fqdns" {
  description = "Optional per-zone host names of the primary (e.g. one per availability zone). When set, the primary check is a CALCULATED check over one HTTPS check per name."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.primary_child_fqdns) == length(distinct(var.primary_child_fqdns)) && length(var.primary_child_fqdns) <= 255
    error_message = "primary_child_fqdns must be distinct (and at most 255)."
  }
}

variable "primary_child_quorum" {
  description = "With primary_child_fqdns: how many child checks must be healthy for the primary to be healthy (e.g. 2 of 3 zones)."
  type        = number
  default     = 2

  validation {
    condition     = var.primary_child_quorum >= 1 && floor(var.primary_child_quorum) == var.primary_child_quorum
    error_message = "primary_child_quorum must be a whole number of at least 1."
  }
}

variable "health_alarm_periods" {
  description = "Minutes the primary check must stay under 100% healthy before the early warning fires."
  type        = number
  default     = 3

  validation {
    condition     = var.health_alarm_periods >= 1 && var.health_alarm_periods <= 60
    error_message = "health_alarm_periods must be between 1 and 60."
  }
}

variable "switch_mode" {
  description = "How a failover moves traffic (the catalog's switch.mode): health_check (force the primary's endpoint check unhealthy through Route 53's API), metric (publish RegionalFailover/PrimaryForcedOut in the secondary region, watched by a CLOUDWATCH_METRIC check under the PRIMARY record's CALCULATED check: no Route 53 API call), or both."
  type        = string
  default     = "health_check"
  nullable    = false

  validation {
    condition     = contains(["health_check", "metric", "both"], var.switch_mode)
    error_message = "switch_mode must be \"health_check\", \"metric\" or \"both\"."
  }
}

variable "primary_probe" {
  description = "Create a second health check on the primary endpoint that is never flipped (the catalog's primary.probe_health_check_id): the primary's real health while failed over, which gates a failback without force."
  type        = bool
  default     = true
  nullable    = false
}

# ---- DNS ----------------------------------------------------------------------------

variable "zone_id" {
  description = "Route 53 hosted zone of record_name."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{1,31}$", var.zone_id))
    error_message = "zone_id must be a Route 53 hosted zone id (Z...)."
  }
}

variable "record_name" {
  description = "The name clients resolve, e.g. checkout.example.com (not the zone apex when record_type is CNAME)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_*]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$", var.record_name))
    error_message = "record_name must be a DNS name."
  }
}

variable "record_type" {
  description = "Type of the plain (non-alias) failover records."
  type        = string
  default     = "CNAME"

  validation {
    condition     = contains(["A", "AAAA", "CNAME"], var.record_type)
    error_message = "record_type must be A, AAAA or CNAME."
  }
}

variable "primary_records" {
  description = "Values of the plain primary record; null for [primary_fqdn] (a CNAME). Required for A/AAAA records."
  type        = list(string)
  default     = null
}

variable "secondary_records" {
  description = "Values of the plain secondary record; null for [secondary_fqdn] (a CNAME). Required for A/AAAA records."
  type        = list(string)
  default     = null
}

variable "ttl" {
  description = "TTL of the plain primary record: how long resolvers keep answering the primary after a failover."
  type        = number
  default     = 60

  validation {
    condition     = var.ttl >= 1 && var.ttl <= 86400 && floor(var.ttl) == var.ttl
    error_message = "ttl must be a whole number of seconds between 1 and 86400."
  }
}

variable "secondary_ttl" {
  description = "TTL of the plain secondary record, at least ttl: a higher value drains clients back to the primary gradually on failback."
  type        = number
  default     = 300

  validation {
    condition     = var.secondary_ttl >= 1 && var.secondary_ttl <= 86400 && floor(var.secondary_ttl) == var.secondary_ttl
    error_message = "secondary_ttl must be a whole number of seconds between 1 and 86400."
  }
}

variable "primary_alias" {
  description = "Alias target of the primary record (e.g. an ALB's dns_name and zone_id), with evaluate-target-health; null for a plain record."
  type = object({
    name    = string
    zone_id = string
  })
  default = null
}

variable "secondary_alias" {
  description = "Alias target of the secondary record; set both aliases or neither."
  type = object({
    name    = string
    zone_id = string
  })
  default = null
}

# ---- catalog (see the README's catalog schema) ---------------------------------------

variable "quorum" {
  description = "Distinct observers in ALARM needed to fail over: 1 to 3, the number of observers of this module."
  type        = number
  default     = 2

  validation {
    condition     = var.quorum >= 1 && var.quorum <= 3 && floor(var.quorum) == var.quorum
    error_message = "quorum must be 1, 2 or 3 (this module has three observers)."
  }
}

variable "vote_window_seconds" {
  description = "A vote counts this long after its alarm entered ALARM."
  type        = number
  default     = 300

  validation {
    condition     = var.vote_window_seconds >= 1 && var.vote_window_seconds <= 2678400 && floor(var.vote_window_seconds) == var.vote_window_seconds
    error_message = "vote_window_seconds must be a whole number between 1 and 2678400."
  }
}

variable "max_event_age_seconds" {
  description = "Alarm events older than this are ignored."
  type        = number
  default     = 300

  validation {
    condition     = var.max_event_age_seconds >= 1 && var.max_event_age_seconds <= 2678400 && floor(var.max_event_age_seconds) == var.max_event_age_seconds
    error_message = "max_event_age_seconds must be a whole number between 1 and 2678400."
  }
}

variable "cooldown_seconds" {
  description = "No automatic failover this long after any transition."
  type        = number
  default     = 3600

  validation {
    condition     = var.cooldown_seconds >= 1 && var.cooldown_seconds <= 2678400 && floor(var.cooldown_seconds) == var.cooldown_seconds
    error_message = "cooldown_seconds must be a whole number between 1 and 2678400."
  }
}

variable "max_auto_failovers_per_day" {
  description = "Automatic failovers in any 24 hours; past it, humans decide."
  type        = number
  default     = 1

  validation {
    condition     = var.max_auto_failovers_per_day >= 1 && floor(var.max_auto_failovers_per_day) == var.max_auto_failovers_per_day
    error_message = "max_auto_failovers_per_day must be a whole number of at least 1."
  }
}

variable "failback_min_healthy_seconds" {
  description = "A failback without force is refused until the primary's probe has been healthy this long."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.failback_min_healthy_seconds >= 1 && var.failback_min_healthy_seconds <= 2678400 && floor(var.failback_min_healthy_seconds) == var.failback_min_healthy_seconds
    error_message = "failback_min_healthy_seconds must be a whole number between 1 and 2678400."
  }
}

variable "enforce" {
  description = "When the reconciler finds drift: re-apply the decision (true) or only alert (false)."
  type        = bool
  default     = false
}

variable "secondary_health_check" {
  description = "Pre-flight: the secondary's health check must be healthy before failing over."
  type        = bool
  default     = true
}

variable "secondary_alarm_arn" {
  description = "Pre-flight: optional alarm ARN that must be OK before failing over; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.secondary_alarm_arn == null ? true : can(regex("^arn:[a-z-]+:cloudwatch:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:alarm:.+$", var.secondary_alarm_arn))
    error_message = "secondary_alarm_arn must be a CloudWatch alarm ARN, or null."
  }
}

variable "replica_lag" {
  description = "Pre-flight: optional metric whose latest value must be <= max_seconds; also alarmed in its region (aws.replica provider). unit is the metric's: seconds (RDS ReplicaLag) or milliseconds (Aurora's AuroraReplicaLag, AuroraGlobalDBReplicationLag); max_seconds is always seconds. null for none."
  type = object({
    region      = string
    namespace   = string
    metric_name = string
    dimensions  = optional(map(string), {})
    statistic   = optional(string, "Maximum")
    max_seconds = optional(number, 30)
    unit        = optional(string, "seconds")
  })
  default = null

  validation {
    condition = var.replica_lag == null ? true : (
      can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.replica_lag.region)) &&
      length(trimspace(var.replica_lag.namespace)) > 0 &&
      length(trimspace(var.replica_lag.metric_name)) > 0 &&
      alltrue([for k, v in var.replica_lag.dimensions : length(k) > 0 && length(v) > 0]) &&
      contains(["Average", "Maximum", "Minimum", "Sum", "SampleCount"], var.replica_lag.statistic) &&
      var.replica_lag.max_seconds > 0
    )
    error_message = "replica_lag needs a region, a namespace, a metric_name, non-empty dimensions, a statistic among Average, Maximum, Minimum, Sum, SampleCount and max_seconds > 0."
  }

  validation {
    condition     = var.replica_lag == null ? true : contains(["seconds", "milliseconds"], var.replica_lag.unit)
    error_message = "replica_lag.unit must be \"seconds\" or \"milliseconds\" (the unit the metric is published in)."
  }
}

variable "secondary_alarm_insufficient_data" {
  description = "Pre-flight: what secondary_alarm_arn in INSUFFICIENT_DATA counts as: not_ready (refuse to fail over) or ready (an idle passive secondary's alarm often has no data)."
  type        = string
  default     = "not_ready"
  nullable    = false

  validation {
    condition     = contains(["not_ready", "ready"], var.secondary_alarm_insufficient_data)
    error_message = "secondary_alarm_insufficient_data must be \"not_ready\" or \"ready\"."
  }
}

# ---- canaries -----------------------------------------------------------------------

variable "canary_name" {
  description = "Name of the three canaries (one per observer region); null derives it from name. At most 21 characters of 0-9, a-z, '_', '-'."
  type        = string
  default     = null

  validation {
    condition     = var.canary_name == null ? true : can(regex("^[0-9a-z][0-9a-z_-]{0,20}$", var.canary_name))
    error_message = "canary_name must be 1-21 characters of 0-9, a-z, '_' and '-', starting with a letter or digit."
  }
}

variable "canary_url" {
  description = "Public URL the canaries GET; null for https://<record_name><health_path>, the name clients use."
  type        = string
  default     = null

  validation {
    condition     = var.canary_url == null ? true : can(regex("^https://[^\\s/]+(/[^\\s]*)?$", var.canary_url))
    error_message = "canary_url must be an https:// URL, or null."
  }
}

variable "canary_runtime_version" {
  description = "CloudWatch Synthetics runtime of the canaries."
  type        = string
  default     = "syn-nodejs-puppeteer-15.0"

  validation {
    condition     = can(regex("^syn-nodejs-puppeteer-[0-9]+\\.[0-9]+$", var.canary_runtime_version))
    error_message = "canary_runtime_version must be a syn-nodejs-puppeteer-<major>.<minor> runtime."
  }
}

variable "canary_schedule" {
  description = "How often each canary runs. rate(1 minute) is the fastest vote and the main cost (see infra/README.md); rate(5 minutes) costs a fifth."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours)\\)|cron\\(.+\\))$", var.canary_schedule))
    error_message = "canary_schedule must be rate(N minute[s]|hour[s]) or cron(...)."
  }
}

variable "canary_timeout_seconds" {
  description = "Timeout of one canary run (at least 15 s for cold starts; at most the schedule's period)."
  type        = number
  default     = 30

  validation {
    condition     = var.canary_timeout_seconds >= 15 && var.canary_timeout_seconds <= 840
    error_message = "canary_timeout_seconds must be between 15 and 840."
  }
}

variable "canary_alarm_periods" {
  description = "Consecutive failing periods (one per canary run, at most an hour each) before an observer alarm votes ALARM."
  type        = number
  default     = 2

  validation {
    condition     = var.canary_alarm_periods >= 1 && var.canary_alarm_periods <= 24 && floor(var.canary_alarm_periods) == var.canary_alarm_periods
    error_message = "canary_alarm_periods must be a whole number between 1 and 24."
  }
}

variable "artifact_retention_days" {
  description = "Days canary artifacts are kept in the per-region buckets."
  type        = number
  default     = 30

  validation {
    condition     = var.artifact_retention_days >= 1 && floor(var.artifact_retention_days) == var.artifact_retention_days
    error_message = "artifact_retention_days must be a whole number of at least 1."
  }
}

variable "recovery_timeout_seconds" {
  description = "After a failover switched, every observer must report OK again within this long, or [NOT RECOVERED] pages once."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.recovery_timeout_seconds >= 1 && var.recovery_timeout_seconds <= 2678400 && floor(var.recovery_timeout_seconds) == var.recovery_timeout_seconds
    error_message = "recovery_timeout_seconds must be a whole number between 1 and 2678400."
  }
}

variable "readiness_interval_seconds" {
  description = "How often the reconciler evaluates the secondary's pre-flight while the primary is active ([NOT READY] / [READY] pages)."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.readiness_interval_seconds >= 1 && var.readiness_interval_seconds <= 2678400 && floor(var.readiness_interval_seconds) == var.readiness_interval_seconds
    error_message = "readiness_interval_seconds must be a whole number between 1 and 2678400."
  }
}
