output "api_destination_arns" {
  description = "The API destinations created (pagerduty, webhook), by name; empty when none is configured."
  value       = local.destination_arns
}

output "rule_names" {
  description = "The EventBridge rules, by route (pagerduty-trigger, pagerduty-resolve, webhook-firing, webhook-resolved)."
  value       = { for name, r in aws_cloudwatch_event_rule.route : name => r.name }
}

output "delivery_failure_queue_url" {
  description = "Events no integration accepted after an hour of retries (null when no integration is configured)."
  value       = one(aws_sqs_queue.delivery_failures[*].url)
}

output "slack_channel_configuration_arn" {
  description = "The Chatbot Slack channel configuration (null when none)."
  value       = one(aws_chatbot_slack_channel_configuration.alerts[*].chat_configuration_arn)
}
