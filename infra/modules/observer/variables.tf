variable "name" {
  description = "The protected service's name: the prefix of this observer's alarm and forwarding rule names."
  type        = string
}

variable "region" {
  description = "Region of this module's aws provider (the observer region): named in the alarm, and checked against its ARN."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "canary" {
  description = "The canary: its name, the URL it GETs, the script zip, runtime, schedule and run timeout; the consecutive failing periods before its alarm votes; the days its artifacts are kept. The protected-service module validates each field."
  type = object({
    name                    = string
    url                     = string
    zip_file                = string
    runtime_version         = string
    schedule                = string
    timeout_seconds         = number
    alarm_periods           = number
    artifact_retention_days = number
  })
}

variable "control" {
  description = "Where the alarm's state changes go: the control region, its default event bus, and the IAM role EventBridge assumes to put events on that bus. In the control region itself nothing is forwarded."
  type = object({
    region             = string
    bus_arn            = string
    forwarder_role_arn = string
  })
}
