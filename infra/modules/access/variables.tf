variable "name_prefix" {
  description = "Prefix of every name this module creates (roles <prefix>-operator-{operator,approver,readonly}, the trail, its bucket and key)."
  type        = string
  default     = "failover"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "operator_function_name" {
  description = "The operator function's name (the control-plane module's function_names.operator)."
  type        = string
}

variable "operator_function_arn" {
  description = "The operator function's ARN (the control-plane module's function_arns.operator)."
  type        = string
}

variable "operator_principals" {
  description = "IAM principal ARNs (users, roles, or an account root to delegate to its IAM) that may assume the operator role: failover, failback, pause, resume, status. No role is created when empty."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.operator_principals : can(regex("^arn:[a-z-]+:(iam|sts)::[0-9]{12}:", p))])
    error_message = "operator_principals must be IAM principal ARNs."
  }
}

variable "approver_principals" {
  description = "IAM principal ARNs that may assume the approver role: approve and decline a workflow step (and status). No role is created when empty."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.approver_principals : can(regex("^arn:[a-z-]+:(iam|sts)::[0-9]{12}:", p))])
    error_message = "approver_principals must be IAM principal ARNs."
  }
}

variable "readonly_principals" {
  description = "IAM principal ARNs that may assume the read-only role: status only. No role is created when empty."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.readonly_principals : can(regex("^arn:[a-z-]+:(iam|sts)::[0-9]{12}:", p))])
    error_message = "readonly_principals must be IAM principal ARNs."
  }
}

variable "max_session_seconds" {
  description = "Longest session of the three roles."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_seconds >= 900 && var.max_session_seconds <= 43200
    error_message = "max_session_seconds must be between 900 and 43200."
  }
}

variable "existing_trail_name" {
  description = "An existing CloudTrail trail that already records the operator function's invocations (data events, AWS::Lambda::Function): no trail, bucket or key is created. null creates a trail for exactly that function."
  type        = string
  default     = null
}

variable "trail_retention_days" {
  description = "How long the created trail's log files are kept."
  type        = number
  default     = 400

  validation {
    condition     = var.trail_retention_days >= 90
    error_message = "trail_retention_days must be 90 or more."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the trail's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
