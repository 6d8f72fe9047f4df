# The three functions. Their permissions are rendered by the root module (infra/iam.tf),
# which knows every protected service's health checks, and attached here so that each
# function is created only after its role can do its work.

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "alarm_trigger" {
  name               = "${var.name_prefix}-alarm-trigger"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role" "operator" {
  name               = "${var.name_prefix}-operator"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role" "reconciler" {
  name               = "${var.name_prefix}-reconciler"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "alarm_trigger" {
  name   = "alarm-trigger"
  role   = aws_iam_role.alarm_trigger.id
  policy = var.policies.alarm_trigger
}

resource "aws_iam_role_policy" "operator" {
  name   = "operator"
  role   = aws_iam_role.operator.id
  policy = var.policies.operator
}

resource "aws_iam_role_policy" "reconciler" {
  name   = "reconciler"
  role   = aws_iam_role.reconciler.id
  policy = var.policies.reconciler
}

# Created before the functions so Lambda never creates them unencrypted and unexpiring.
resource "aws_cloudwatch_log_group" "alarm_trigger" {
  name              = "/aws/lambda/${var.name_prefix}-alarm-trigger"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn

  # CloudWatch Logs checks at creation that it may use the key.
  depends_on = [aws_kms_key_policy.main]
}

resource "aws_cloudwatch_log_group" "operator" {
  name              = "/aws/lambda/${var.name_prefix}-operator"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn

  # CloudWatch Logs checks at creation that it may use the key.
  depends_on = [aws_kms_key_policy.main]
}

resource "aws_cloudwatch_log_group" "reconciler" {
  name              = "/aws/lambda/${var.name_prefix}-reconciler"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn

  # CloudWatch Logs checks at creation that it may use the key.
  depends_on = [aws_kms_key_policy.main]
}

resource "aws_lambda_function" "alarm_trigger" {
  #checkov:skip=CKV_AWS_117:Calls only public AWS APIs (Route 53, DynamoDB, SNS, CloudWatch in several regions); a VPC would add NAT or endpoints, new regional failure points on the failover path.
  #checkov:skip=CKV_AWS_272:Artifacts are built locally by `make package` and deployed from a zip; there is no AWS Signer profile in this project.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the SQS on-failure destination (aws_lambda_function_event_invoke_config.alarm_trigger), which supersedes a DLQ.
  function_name                  = "${var.name_prefix}-alarm-trigger"
  description                    = "Records observer votes and performs the quorum-confirmed automatic failover"
  role                           = aws_iam_role.alarm_trigger.arn
  filename                       = "${var.artifacts_dir}/alarm-trigger/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/alarm-trigger/bootstrap.zip")
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.alarm_trigger_memory_mb
  timeout                        = var.alarm_trigger_timeout_seconds
  reserved_concurrent_executions = var.alarm_trigger_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = {
      FAILOVER_TABLE  = aws_dynamodb_table.control.name
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      RUST_LOG        = "info"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.alarm_trigger.name
  }

  # Trace only requests a caller already sampled; Active tracing would need xray writes on "*".
  tracing_config {
    mode = "PassThrough"
  }

  depends_on = [aws_iam_role_policy.alarm_trigger]
}

resource "aws_lambda_function" "operator" {
  #checkov:skip=CKV_AWS_117:Calls only public AWS APIs (Route 53, DynamoDB, SNS, CloudWatch in several regions); a VPC would add NAT or endpoints, new regional failure points on the failover path.
  #checkov:skip=CKV_AWS_272:Artifacts are built locally by `make package` and deployed from a zip; there is no AWS Signer profile in this project.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by an operator, who sees every error; there are no asynchronous events to dead-letter.
  function_name                  = "${var.name_prefix}-operator"
  description                    = "Manual failover, failback, status, pause and resume, invoked by an operator"
  role                           = aws_iam_role.operator.arn
  filename                       = "${var.artifacts_dir}/operator/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/operator/bootstrap.zip")
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.operator_memory_mb
  timeout                        = var.operator_timeout_seconds
  reserved_concurrent_executions = var.operator_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = {
      FAILOVER_TABLE  = aws_dynamodb_table.control.name
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      RUST_LOG        = "info"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.operator.name
  }

  tracing_config {
    mode = "PassThrough"
  }

  depends_on = [aws_iam_role_policy.operator]
}

resource "aws_lambda_function" "reconciler" {
  #checkov:skip=CKV_AWS_117:Calls only public AWS APIs (Route 53, DynamoDB, SNS, CloudWatch in several regions); a VPC would add NAT or endpoints, new regional failure points on the failover path.
  #checkov:skip=CKV_AWS_272:Artifacts are built locally by `make package` and deployed from a zip; there is no AWS Signer profile in this project.
  #checkov:skip=CKV_AWS_116:Failed scheduled runs go to the SQS on-failure destination (aws_lambda_function_event_invoke_config.reconciler), which supersedes a DLQ.
  function_name                  = "${var.name_prefix}-reconciler"
  description                    = "Every minute: finishes interrupted transitions, verifies Route 53, catches drift, escalates"
  role                           = aws_iam_role.reconciler.arn
  filename                       = "${var.artifacts_dir}/reconciler/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/reconciler/bootstrap.zip")
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.reconciler_memory_mb
  timeout                        = var.reconciler_timeout_seconds
  reserved_concurrent_executions = var.reconciler_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = {
      FAILOVER_TABLE              = aws_dynamodb_table.control.name
      ALERT_TOPIC_ARN             = aws_sns_topic.alerts.arn
      ESCALATION_INTERVAL_SECONDS = tostring(var.escalation_interval_seconds)
      RUST_LOG                    = "info"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.reconciler.name
  }

  tracing_config {
    mode = "PassThrough"
  }

  depends_on = [aws_iam_role_policy.reconciler]
}

# Retries resume an interrupted transition at its first unfinished step; what still
# fails is kept in the queue for a human.
resource "aws_lambda_function_event_invoke_config" "alarm_trigger" {
  function_name                = aws_lambda_function.alarm_trigger.function_name
  maximum_retry_attempts       = var.alarm_trigger_retry_attempts
  maximum_event_age_in_seconds = var.alarm_trigger_max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

# No retries: the next scheduled run a minute later does the same work.
resource "aws_lambda_function_event_invoke_config" "reconciler" {
  function_name                = aws_lambda_function.reconciler.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = var.reconciler_max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}
