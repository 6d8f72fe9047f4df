# Least privilege per function. The documents live here, at the root, because only the
# root knows every protected service's health checks; the control-plane module attaches
# them to the roles it creates. All three functions run the same engine (automatic path,
# operator requests, reconciler runs), so they need the same calls; only the functions
# invoked asynchronously may write to the on-failure queue.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  health_check_arns         = distinct(flatten([for s in local.services : s.health_check_arns]))
  primary_health_check_arns = [for s in local.services : s.primary_health_check_arn]

  # The secondary's readiness alarms and the observers' alarms (the reconciler confirms
  # standing ALARM votes by reading them) live in several regions; DescribeAlarms is read-only.
  alarm_arns = "arn:${local.partition}:cloudwatch:*:${local.account_id}:alarm:*"

  # Every service's workflow ARNs (modules/protected-service/workflow.tf), by call. A call
  # that no step makes is denied rather than granted: a statement needs a resource, and an
  # empty workflow must grant nothing.
  workflow_arns = {
    for call in keys(local.services[0].workflow_resources) :
    call => distinct(flatten([for s in local.services : s.workflow_resources[call]]))
  }
  workflow_effect    = { for call, arns in local.workflow_arns : call => length(arns) > 0 ? "Allow" : "Deny" }
  workflow_resources = { for call, arns in local.workflow_arns : call => length(arns) > 0 ? arns : ["*"] }
}

# The runbook's steps, their read-backs and the capacity pre-flight, on exactly the
# resources the services' workflow inputs name (the catalog's workflow is generated from
# the same inputs).
data "aws_iam_policy_document" "workflow" {
  statement {
    sid       = "WorkflowScaleGroups"
    effect    = local.workflow_effect.update_autoscaling_group
    actions   = ["autoscaling:UpdateAutoScalingGroup"]
    resources = local.workflow_resources.update_autoscaling_group
  }

  # DescribeAutoScalingGroups has no resource-level permissions: AWS requires "*" (Service
  # Authorization Reference, EC2 Auto Scaling). Read-only: the scale steps' read-back and
  # the capacity pre-flight's InService count. Denied when no step or floor reads a group.
  statement {
    sid       = "WorkflowReadGroups"
    effect    = local.workflow_effect.describe_autoscaling_groups
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "WorkflowScaleServices"
    effect    = local.workflow_effect.update_service
    actions   = ["ecs:UpdateService"]
    resources = local.workflow_resources.update_service
  }

  statement {
    sid       = "WorkflowReadServices"
    effect    = local.workflow_effect.describe_services
    actions   = ["ecs:DescribeServices"]
    resources = local.workflow_resources.describe_services
  }

  statement {
    sid       = "WorkflowPromoteReplicas"
    effect    = local.workflow_effect.promote_read_replica
    actions   = ["rds:PromoteReadReplica"]
    resources = local.workflow_resources.promote_read_replica
  }

  statement {
    sid       = "WorkflowReadReplicas"
    effect    = local.workflow_effect.describe_db_instances
    actions   = ["rds:DescribeDBInstances"]
    resources = local.workflow_resources.describe_db_instances
  }

  # Both on the global cluster and the target cluster (AWS requires both resource types).
  statement {
    sid       = "WorkflowSwitchoverGlobalClusters"
    effect    = local.workflow_effect.switchover_global_cluster
    actions   = ["rds:SwitchoverGlobalCluster"]
    resources = local.workflow_resources.switchover_global_cluster
  }

  # Only for the steps with allow_data_loss: no other step may lose data.
  statement {
    sid       = "WorkflowFailoverGlobalClusters"
    effect    = local.workflow_effect.failover_global_cluster
    actions   = ["rds:FailoverGlobalCluster"]
    resources = local.workflow_resources.failover_global_cluster
  }

  statement {
    sid       = "WorkflowReadGlobalClusters"
    effect    = local.workflow_effect.describe_global_clusters
    actions   = ["rds:DescribeGlobalClusters"]
    resources = local.workflow_resources.describe_global_clusters
  }

  statement {
    sid       = "WorkflowInvokeFunctions"
    effect    = local.workflow_effect.invoke_function
    actions   = ["lambda:InvokeFunction"]
    resources = local.workflow_resources.invoke_function
  }
}

# What the engine calls, whichever entry point runs it.
data "aws_iam_policy_document" "engine" {
  source_policy_documents = [data.aws_iam_policy_document.workflow.json]

  statement {
    sid       = "ControlTable"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"]
    resources = [module.control_plane.table_arn]
  }

  statement {
    sid       = "ReadHealthChecks"
    actions   = ["route53:GetHealthCheck", "route53:GetHealthCheckStatus"]
    resources = local.health_check_arns
  }

  # The reconciler reads every service's checks in bulk (up to 1,000 a call) instead of one
  # GetHealthCheck each. ListHealthChecks has no resource-level permissions: AWS requires
  # "*". Read-only.
  statement {
    sid       = "ListHealthChecks"
    actions   = ["route53:ListHealthChecks"]
    resources = ["*"]
  }

  # Only the primary checks are ever flipped (restored on failback, re-applied by the
  # reconciler with enforce).
  statement {
    sid       = "SwitchPrimaryHealthChecks"
    actions   = ["route53:UpdateHealthCheck"]
    resources = local.primary_health_check_arns
  }

  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [local.alarm_arns]
  }

  # GetMetricData has no resource-level permissions: AWS requires "*". Read-only: the
  # replica lag pre-flight, the switch metric's latest datapoint, and Route 53's
  # AWS/Route53 HealthCheckStatus (which answers while Route 53's API does not).
  statement {
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  # The metric switch (switch_mode metric or both): PrimaryForcedOut in the switch alarm's
  # region. PutMetricData has no resource-level permissions: AWS requires "*"; the
  # condition limits it to the switch's namespace.
  statement {
    sid       = "PublishSwitchMetric"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["RegionalFailover"]
    }
  }

  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [module.control_plane.topic_arn]
  }

  # Every alert is also an EventBridge event, on the one configured bus.
  statement {
    sid       = "PutAlertEvents"
    actions   = ["events:PutEvents"]
    resources = [module.control_plane.event_bus_arn]
  }

  # The key of the topic, the table, the queue and this function's environment.
  statement {
    sid       = "UseKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.control_plane.kms_key_arn]
  }
}

data "aws_iam_policy_document" "alarm_trigger" {
  source_policy_documents = [data.aws_iam_policy_document.engine.json]

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${module.control_plane.log_group_arns.alarm_trigger}:*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [module.control_plane.failure_queue_arn]
  }
}

data "aws_iam_policy_document" "operator" {
  source_policy_documents = [data.aws_iam_policy_document.engine.json]

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${module.control_plane.log_group_arns.operator}:*"]
  }
}

data "aws_iam_policy_document" "reconciler" {
  source_policy_documents = [data.aws_iam_policy_document.engine.json]

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${module.control_plane.log_group_arns.reconciler}:*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [module.control_plane.failure_queue_arn]
  }
}
