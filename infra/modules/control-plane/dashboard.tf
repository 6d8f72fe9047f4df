# One CloudWatch dashboard per deployment: the control plane on top (the functions'
# errors and duration, the reconciler's heartbeat), then one band per protected service.
# Every RegionalFailover metric named here is one the code emits (tests/tests/infra/operate.rs).

locals {
  functions_region = var.region

  control_widgets = [
    {
      type       = "text", x = 0, y = 0, width = 24, height = 1
      properties = { markdown = "## ${var.name_prefix}: control plane (${var.region})" }
    },
    {
      type = "metric", x = 0, y = 1, width = 8, height = 6
      properties = {
        title   = "Function errors", region = local.functions_region, view = "timeSeries", stacked = false, period = 60, stat = "Sum"
        metrics = [for key, f in local.functions : ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.function[key].function_name, { label = f.name }]]
      }
    },
    {
      type = "metric", x = 8, y = 1, width = 8, height = 6
      properties = {
        title   = "Function duration (p99, ms)", region = local.functions_region, view = "timeSeries", stacked = false, period = 60, stat = "p99"
        metrics = [for key, f in local.functions : ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.function[key].function_name, { label = f.name }]]
      }
    },
    {
      type = "metric", x = 16, y = 1, width = 8, height = 6
      properties = {
        title   = "Reconciler heartbeat (runs a minute; alarm below 1 for 5 min)", region = local.functions_region, view = "timeSeries", stacked = false, period = 60, stat = "Sum"
        metrics = [["RegionalFailover", "ReconcilerRuns", "Function", "reconciler", { label = "runs" }]]
      }
    },
  ]

  # Each service's band: a title line and five graphs, 13 rows high.
  service_widgets = flatten([
    for i, s in var.dashboard_services : concat([
      {
        type       = "text", x = 0, y = 7 + i * 13, width = 24, height = 1
        properties = { markdown = "### ${s.name}" }
      },
      {
        type = "metric", x = 0, y = 8 + i * 13, width = 8, height = 6
        properties = {
          title = "${s.name}: health checks (% of checkers healthy)", region = "us-east-1", view = "timeSeries", stacked = false, period = 60, stat = "Average"
          metrics = concat(
            [
              ["AWS/Route53", "HealthCheckPercentageHealthy", "HealthCheckId", s.primary_health_check_id, { label = "primary (switched)" }],
              ["AWS/Route53", "HealthCheckPercentageHealthy", "HealthCheckId", s.secondary_health_check_id, { label = "secondary" }],
            ],
            [for id in(s.probe_health_check_id == null ? [] : [s.probe_health_check_id]) : ["AWS/Route53", "HealthCheckPercentageHealthy", "HealthCheckId", id, { label = "primary probe" }]],
          )
        }
      },
      {
        type = "metric", x = 8, y = 8 + i * 13, width = 8, height = 6
        properties = {
          title = "${s.name}: votes and decisions", region = local.functions_region, view = "timeSeries", stacked = false, period = 60, stat = "Sum"
          metrics = concat(
            [["RegionalFailover", "Votes", "Function", "alarm-trigger", "Service", s.name, { label = "votes (alarm-trigger)" }]],
            [for f in local.functions : ["RegionalFailover", "Decisions", "Function", f.name, "Service", s.name, { label = "decisions (${f.name})" }]],
          )
        }
      },
      {
        type = "metric", x = 16, y = 8 + i * 13, width = 8, height = 6
        properties = {
          title   = "${s.name}: readiness for failover (1 = not ready)", region = local.functions_region, view = "timeSeries", stacked = false, period = 60, stat = "Maximum"
          metrics = [["RegionalFailover", "ReadinessNotReady", "Function", "reconciler", "Service", s.name, { label = "not ready" }]]
        }
      },
      {
        type = "metric", x = 0, y = 14 + i * 13, width = 12, height = 6
        properties = {
          title   = "${s.name}: switch state (PrimaryForcedOut, 1 = failed over)", region = s.secondary_region, view = "timeSeries", stacked = false, period = 60, stat = "Maximum"
          metrics = [["RegionalFailover", "PrimaryForcedOut", "Service", s.name, { label = "primary forced out" }]]
        }
      },
      ],
      # A text or a graph: for expressions, since the two widgets' types differ.
      [for none in(s.replica_lag == null ? [s.name] : []) : {
        type       = "text", x = 12, y = 14 + i * 13, width = 12, height = 6
        properties = { markdown = "No replica lag metric is configured for ${none} (protected-service `replica_lag`)." }
      }],
      [for l in(s.replica_lag == null ? [] : [s.replica_lag]) : {
        type = "metric", x = 12, y = 14 + i * 13, width = 12, height = 6
        properties = {
          title   = "${s.name}: replica lag (${l.namespace} ${l.metric_name})", region = l.region, view = "timeSeries", stacked = false, period = 60, stat = l.statistic
          metrics = [concat([l.namespace, l.metric_name], flatten([for k, v in l.dimensions : [k, v]]), [{ label = "replica lag" }])]
        }
      }],
    )
  ])

  dashboard_body = jsonencode({ widgets = concat(local.control_widgets, local.service_widgets) })
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.name_prefix
  dashboard_body = local.dashboard_body
}
