variable "name_prefix" {
  description = "Prefix of every name this module creates (rules, connections, API destinations, the delivery queue, roles)."
  type        = string
  default     = "failover"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "event_bus_name" {
  description = "The bus the functions put every alert on (the control-plane module's event_bus_name); the rules listen there."
  type        = string
  default     = "default"
}

variable "topic_arn" {
  description = "The alert topic (for the Slack channel and the delivery-failure alarm)."
  type        = string
}

variable "kms_key_arn" {
  description = "The control plane's KMS key: encrypts the delivery-failure queue (its policy already lets EventBridge use it for this account)."
  type        = string
}

variable "pagerduty" {
  description = "PagerDuty Events API v2, or null for none. routing_key_secret_arn names a Secrets Manager secret whose SecretString is the integration's routing key, created and set outside Terraform. trigger_event_types are paged (severity critical or warning only); resolve_event_types resolve the incident of the same dedup_key (<service>#<epoch>)."
  type = object({
    routing_key_secret_arn = string
    trigger_event_types    = optional(list(string), ["failover", "blocked", "held", "pending", "escalation", "drift", "catalog", "not_recovered", "approval", "step_failed", "workflow_declined", "readiness"])
    resolve_event_types    = optional(list(string), ["recovered", "failback"])
  })
  default = null

  validation {
    condition     = var.pagerduty == null ? true : can(regex("^arn:[a-z-]+:secretsmanager:", var.pagerduty.routing_key_secret_arn))
    error_message = "pagerduty.routing_key_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "webhook" {
  description = "A generic webhook receiving Alertmanager's webhook format (version 4), or null for none: endpoint (https), the header its key goes in (api_key_name) and a Secrets Manager secret holding the key (api_key_secret_arn), created outside Terraform. resolved_event_types are sent with status resolved, every other event type with status firing."
  type = object({
    endpoint             = string
    api_key_name         = optional(string, "Authorization")
    api_key_secret_arn   = string
    resolved_event_types = optional(list(string), ["recovered", "failback"])
  })
  default = null

  validation {
    condition     = var.webhook == null ? true : can(regex("^https://", var.webhook.endpoint)) && can(regex("^arn:[a-z-]+:secretsmanager:", var.webhook.api_key_secret_arn))
    error_message = "webhook.endpoint must be an https URL and webhook.api_key_secret_arn a Secrets Manager secret ARN."
  }
}

variable "slack" {
  description = "A Slack channel subscribed to the alert topic through AWS Chatbot (Amazon Q Developer in chat applications), or null for none. The workspace (team_id) must first be authorised once in the Chatbot console."
  type = object({
    team_id    = string
    channel_id = string
  })
  default = null
}

variable "rate_limit_per_second" {
  description = "Invocations a second EventBridge may make to each API destination."
  type        = number
  default     = 10

  validation {
    condition     = var.rate_limit_per_second >= 1 && var.rate_limit_per_second <= 300
    error_message = "rate_limit_per_second must be between 1 and 300."
  }
}
