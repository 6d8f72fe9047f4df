output "bucket_name" {
  description = "The artifact bucket."
  value       = aws_s3_bucket.artifacts.id
  depends_on  = [aws_s3_bucket_server_side_encryption_configuration.artifacts, aws_s3_bucket_policy.artifacts]
}

output "bucket_arn" {
  description = "ARN of the artifact bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "role_arn" {
  description = "The canary execution role (its policy is attached before this is known to callers)."
  value       = aws_iam_role.canary.arn
  depends_on  = [aws_iam_role_policy.canary]
}
