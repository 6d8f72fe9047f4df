output "function_arns" {
  description = "ARN of each function."
  value       = { for key, r in aws_lambda_function.function : key => r.arn }
}

output "function_names" {
  description = "Name of each function (operator: FUNCTION_NAME for the Makefile targets)."
  value       = { for key, r in aws_lambda_function.function : key => r.function_name }
}

output "role_names" {
  description = "Execution role of each function."
  value       = { for key, r in aws_iam_role.function : key => r.name }
}

output "role_arns" {
  description = "Execution role ARN of each function."
  value       = { for key, r in aws_iam_role.function : key => r.arn }
}

output "log_group_arns" {
  description = "Log group ARN of each function (without the trailing :*)."
  value       = { for key, r in aws_cloudwatch_log_group.function : key => r.arn }
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

output "event_bus_name" {
  description = "The bus every alert is also put on."
  value       = var.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of that bus: the only resource the functions may call events:PutEvents on, and the bus the integrations' rules listen on."
  value       = "arn:${local.partition}:events:${var.region}:${local.account_id}:event-bus/${var.event_bus_name}"
}

output "log_group_names" {
  description = "Log group name of each function."
  value       = { for key, r in aws_cloudwatch_log_group.function : key => r.name }
}

output "dashboard_name" {
  description = "The CloudWatch dashboard of this deployment."
  value       = aws_cloudwatch_dashboard.main.dashboard_name
}
