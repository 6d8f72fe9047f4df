output "function_arns" {
  description = "ARN of each function."
  value = {
    alarm_trigger = aws_lambda_function.alarm_trigger.arn
    operator      = aws_lambda_function.operator.arn
    reconciler    = aws_lambda_function.reconciler.arn
  }
}

output "function_names" {
  description = "Name of each function (operator: FUNCTION_NAME for the Makefile targets)."
  value = {
    alarm_trigger = aws_lambda_function.alarm_trigger.function_name
    operator      = aws_lambda_function.operator.function_name
    reconciler    = aws_lambda_function.reconciler.function_name
  }
}

output "role_names" {
  description = "Execution role of each function."
  value = {
    alarm_trigger = aws_iam_role.alarm_trigger.name
    operator      = aws_iam_role.operator.name
    reconciler    = aws_iam_role.reconciler.name
  }
}

output "role_arns" {
  description = "Execution role ARN of each function."
  value = {
    alarm_trigger = aws_iam_role.alarm_trigger.arn
    operator      = aws_iam_role.operator.arn
    reconciler    = aws_iam_role.reconciler.arn
  }
}

output "log_group_arns" {
  description = "Log group ARN of each function (without the trailing :*)."
  value = {
    alarm_trigger = aws_cloudwatch_log_group.alarm_trigger.arn
    operator      = aws_cloudwatch_log_group.operator.arn
    reconciler    = aws_cloudwatch_log_group.reconciler.arn
  }
}

output "table_name" {
  description = "The control table (FAILOVER_TABLE)."
  value       = aws_dynamodb_table.control.name
}

output "table_arn" {
  description = "ARN of the control table."
  value       = aws_dynamodb_table.control.arn
}

output "topic_arn" {
  description = "The alert topic (ALERT_TOPIC_ARN)."
  value       = aws_sns_topic.alerts.arn
}

output "kms_key_arn" {
  description = "The key encrypting the table, topic, queue, logs and function environments."
  value       = aws_kms_key.main.arn
}

output "failure_queue_arn" {
  description = "The asynchronous on-failure destination."
  value       = aws_sqs_queue.failures.arn
}

output "failure_queue_url" {
  description = "URL of the asynchronous on-failure destination."
  value       = aws_sqs_queue.failures.url
}
