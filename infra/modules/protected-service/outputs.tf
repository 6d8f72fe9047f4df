output "name" {
  description = "The service name (catalog key)."
  value       = var.name
}

output "health_check_ids" {
  description = "Route 53 health check ids: primary (the endpoint check the health_check mechanism flips), secondary, probe (the primary's never-flipped probe), switch (the CLOUDWATCH_METRIC check on the switch alarm) and record (the CALCULATED check the PRIMARY record carries in metric and both modes); null when not created."
  value = {
    primary   = aws_route53_health_check.primary.id
    secondary = aws_route53_health_check.secondary.id
    probe     = local.probe_health_check_id
    switch    = local.metric_switch ? aws_route53_health_check.primary_switch["primary"].id : null
    record    = local.metric_switch ? aws_route53_health_check.primary_combined["primary"].id : null
  }
}

output "switch_alarm_arn" {
  description = "The switch alarm in the secondary region (metric and both modes: the catalog's switch.alarm_arn); null in health_check mode."
  value       = local.switch_alarm_arn
}

output "primary_health_check_arn" {
  description = "ARN of the primary health check: the only check the functions may update."
  value       = "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.primary.id}"
}

output "health_check_arns" {
  description = "ARNs of the health checks the functions read: the primary's, the secondary's and the probe's."
  value = concat(
    [
      "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.primary.id}",
      "arn:${local.partition}:route53:::healthcheck/${aws_route53_health_check.secondary.id}",
    ],
    [for p in aws_route53_health_check.primary_probe : "arn:${local.partition}:route53:::healthcheck/${p.id}"],
  )
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

output "workflow_resources" {
  description = "The ARNs the functions act on for the workflow and the capacity pre-flight, by call: update_autoscaling_group, describe_autoscaling_groups, update_service, describe_services, promote_read_replica, describe_db_instances, switchover_global_cluster, failover_global_cluster (the aurora_global steps with allow_data_loss only), describe_global_clusters, invoke_function. Each list is empty when no step needs the call."
  value       = local.workflow_resources
}

output "dashboard" {
  description = "What the control plane's dashboard shows of this service: its name, health check ids (primary, secondary, probe or null), secondary region (the switch metric's) and replica lag metric (or null)."
  value = {
    name                      = var.name
    primary_health_check_id   = aws_route53_health_check.primary.id
    secondary_health_check_id = aws_route53_health_check.secondary.id
    probe_health_check_id     = local.probe_health_check_id
    secondary_region          = var.secondary_region
    replica_lag = var.replica_lag == null ? null : {
      region      = var.replica_lag.region
      namespace   = var.replica_lag.namespace
      metric_name = var.replica_lag.metric_name
      dimensions  = var.replica_lag.dimensions
      statistic   = var.replica_lag.statistic
    }
  }
}
