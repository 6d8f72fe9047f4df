variable "region" {
  description = "Region of this module's aws provider (the observer region); checked against the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "canary_name" {
  description = "Name of the canary that writes here (scopes the role's log permissions)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-z][0-9a-z_-]{0,20}$", var.canary_name))
    error_message = "canary_name must be 1-21 characters of 0-9, a-z, '_' and '-', starting with a letter or digit."
  }
}

variable "retention_days" {
  description = "Days canary artifacts (logs, reports) are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of at least 1."
  }
}
