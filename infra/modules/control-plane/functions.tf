# The three functions, from one map. Their permissions are rendered by the root module
# (infra/iam.tf), which knows every protected service's health checks, and attached here
# so that each function is created only after its role can do its work.

locals {
  # Keyed like var.policies and the outputs. `name` is the function's crate in
  # functions/ (its zip is <artifacts_dir>/<name>/bootstrap.zip) and the suffix of its
  # role, log group and function names. `async` is set for the functions invoked
  # asynchronously: their failures go to the on-failure queue.
  functions = {
    alarm_trigger = {
      name                 = "alarm-trigger"
      description          = "Records observer votes and performs the quorum-confirmed automatic failover"
      memory_mb            = var.alarm_trigger_memory_mb
      timeout_seconds      = var.alarm_trigger_timeout_seconds
      reserved_concurrency = var.alarm_trigger_reserved_concurrency
      environment          = {}
      # Retries resume an interrupted transition at its first unfinished step.
      async = {
        retry_attempts        = var.alarm_trigger_retry_attempts
        max_event_age_seconds = var.alarm_trigger_max_event_age_seconds
      }
    }
    operator = {
      name                 = "operator"
      description          = "Manual failover, failback, status, pause and resume, invoked by an operator"
      memory_mb            = var.operator_memory_mb
      timeout_seconds      = var.operator_timeout_seconds
      reserved_concurrency = var.operator_reserved_concurrency
      environment          = {}
      # Invoked synchronously: the operator sees every error.
      async = null
    }
    reconciler = {
      name                 = "reconciler"
      description          = "Every minute: finishes interrupted transitions, verifies Route 53, catches drift, escalates"
      memory_mb            = var.reconciler_memory_mb
      timeout_seconds      = var.reconciler_timeout_seconds
      reserved_concurrency = var.reconciler_reserved_concurrency
      environment = {
        ESCALATION_INTERVAL_SECONDS = tostring(var.escalation_interval_seconds)
      }
      # No retries: the next scheduled run a minute later does the same work.
      async = {
        retry_attempts        = 0
        max_event_age_seconds = var.reconciler_max_event_age_seconds
      }
    }
  }
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name_prefix}-${each.value.name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = each.value.name
  role   = aws_iam_role.function[each.key].id
  policy = var.policies[each.key]
}

# Created before the functions so Lambda never creates them unencrypted and unexpiring.
resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.value.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn

  # CloudWatch Logs checks at creation that it may use the key.
  depends_on = [aws_kms_key_policy.main]
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_117:Calls only public AWS APIs (Route 53, DynamoDB, SNS, CloudWatch in several regions); a VPC would add NAT or endpoints, new regional failure points on the failover path.
  #checkov:skip=CKV_AWS_272:Artifacts are built locally by `make package` and deployed from a zip; there is no AWS Signer profile in this project.
  #checkov:skip=CKV_AWS_116:alarm-trigger and reconciler send failed asynchronous invocations to the SQS on-failure destination (aws_lambda_function_event_invoke_config.function), which supersedes a DLQ; operator is invoked synchronously by an operator, who sees every error.
  for_each = local.functions

  function_name                  = "${var.name_prefix}-${each.value.name}"
  description                    = each.value.description
  role                           = aws_iam_role.function[each.key].arn
  filename                       = "${var.artifacts_dir}/${each.value.name}/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/${each.value.name}/bootstrap.zip")
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory_mb
  timeout                        = each.value.timeout_seconds
  reserved_concurrent_executions = each.value.reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = merge(
      {
        FAILOVER_TABLE           = aws_dynamodb_table.control.name
        ALERT_TOPIC_ARN          = aws_sns_topic.alerts.arn
        ROUTE53_CALLS_PER_SECOND = tostring(var.route53_calls_per_second)
        RUST_LOG                 = "info"
      },
      # Every alert is also put on EventBridge: the default bus unless one is named.
      var.event_bus_name == "default" ? {} : { EVENT_BUS_NAME = var.event_bus_name },
      each.value.environment,
    )
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  # Trace only requests a caller already sampled; Active tracing would need xray writes on "*".
  tracing_config {
    mode = "PassThrough"
  }

  # Every role policy, as depends_on cannot name one instance: no function runs before
  # its role can do its work.
  depends_on = [aws_iam_role_policy.function]
}

# What still fails after the retries is kept in the queue for a human.
resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = { for key, f in local.functions : key => f.async if f.async != null }

  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = each.value.retry_attempts
  maximum_event_age_in_seconds = each.value.max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}
