output "alarm_arn" {
  description = "The canary's SuccessPercent alarm: this observer's vote, as the catalog names it."
  value       = aws_cloudwatch_metric_alarm.canary.arn
}
