output "name" {
  description = "The service name (catalog key)."
  value       = var.name
}

output "health_check_ids" {
  description = "Route 53 health check ids: primary (the one failover flips) and secondary."
  value = {
    primary   = aws_route53_health_check.primary.id
    secondary = aws_route53_health_check.secondary.id
  }
}

output "primary_health_check_arn" {
  description = "ARN of the primary health check: the only check the functions may update."
  value       = "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.primary.id}"
}

output "health_check_arns" {
  description = "ARNs of the primary and secondary health checks, which the functions read."
  value = [
    "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.primary.id}",
    "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.secondary.id}",
  ]
}

output "observer_alarm_arns" {
  description = "The canary alarms that vote (the catalog's observers), in observer order."
  value       = local.observer_alarm_arns
}

output "warning_alarm_arns" {
  description = "Early-warning alarms (primary health, replica lag) whose state changes go to the alert topic."
  value       = concat([for a in aws_cloudwatch_metric_alarm.primary_health : a.arn], aws_cloudwatch_metric_alarm.replica_lag[*].arn)
}

output "canary_name" {
  description = "Name of the canary in each observer region."
  value       = local.canary_name
}

output "catalog_definition" {
  description = "The catalog entry written to the control table, as JSON."
  value       = jsonencode(local.definition)
}
