output "role_arns" {
  description = "The roles created, by name (operator, approver, readonly): assume one to act (failoverctl --profile ...)."
  value       = { for name, r in aws_iam_role.role : name => r.arn }
}

output "trail_name" {
  description = "The trail recording the operator function's invocations: the created one, or existing_trail_name."
  value       = local.create_trail ? aws_cloudtrail.operator[0].name : var.existing_trail_name
}

output "trail_bucket" {
  description = "The created trail's bucket (null with an existing trail)."
  value       = one(aws_s3_bucket.trail[*].id)
}
