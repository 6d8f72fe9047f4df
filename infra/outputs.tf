output "function_arns" {
  description = "ARN of each function."
  value       = module.control_plane.function_arns
}

output "operator_function_name" {
  description = "FUNCTION_NAME for the Makefile's operator targets (make status FUNCTION_NAME=...)."
  value       = module.control_plane.function_names.operator
}

output "table_name" {
  description = "The control table (FAILOVER_TABLE)."
  value       = module.control_plane.table_name
}

output "table_arn" {
  description = "ARN of the control table."
  value       = module.control_plane.table_arn
}

output "topic_arn" {
  description = "The alert topic (ALERT_TOPIC_ARN); subscribe pagers and chat here."
  value       = module.control_plane.topic_arn
}

output "failure_queue_url" {
  description = "Asynchronous invocations that failed every retry."
  value       = module.control_plane.failure_queue_url
}

output "health_check_ids" {
  description = "Per service: the Route 53 health check ids (primary, secondary, probe, switch, record; see the protected-service module's output)."
  value       = { for s in local.services : s.name => s.health_check_ids }
}

output "observer_alarm_arns" {
  description = "Per service: the canary alarms that vote."
  value       = { for s in local.services : s.name => s.observer_alarm_arns }
}

output "dashboard_name" {
  description = "The CloudWatch dashboard of this deployment (control region)."
  value       = module.control_plane.dashboard_name
}

output "operator_role_arns" {
  description = "The roles that may invoke the operator function (operator, approver, readonly), those with principals."
  value       = module.access.role_arns
}

output "operator_trail_name" {
  description = "The CloudTrail trail recording every invocation of the operator function."
  value       = module.access.trail_name
}

output "integration_api_destinations" {
  description = "The API destinations the alerts' events go to (pagerduty, webhook), when configured."
  value       = module.integrations.api_destination_arns
}
