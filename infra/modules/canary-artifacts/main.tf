# One observer region's canary artifact bucket and canary execution role. Synthetics
# writes each run's log and report here; nothing else reads or writes it.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  bucket     = "synthetics-${replace(var.canary_name, "_", "-")}-${local.account_id}-${var.region}"
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Holds only disposable canary run artifacts; the canary's own CloudWatch metrics and logs are the record, and an access-log bucket per observer region would need its own logging.
  #checkov:skip=CKV_AWS_144:Artifacts of a canary in one region are useful only there and expire in days; replicating them would add cost and a cross-region dependency to an observer.
  #checkov:skip=CKV2_AWS_62:No consumer reacts to new artifacts; the canary's SuccessPercent alarm is the signal.
  bucket = local.bucket

  # Disposable test output: let `terraform destroy` empty the bucket.
  force_destroy = true

  lifecycle {
    postcondition {
      condition     = self.region == var.region
      error_message = "The aws provider passed to this module is not in var.region; check the providers map of the protected-service module."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

# The AWS managed key aws/s3: its key policy already lets the canary role use it through
# S3, so no key permissions are needed and no extra key is billed.
resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-artifacts"
    status = "Enabled"

    filter {}

    expiration {
      days = var.retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

data "aws_iam_policy_document" "canary_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "canary" {
  name               = "${var.canary_name}-canary-${var.region}"
  description        = "Execution role of the ${var.canary_name} canary in ${var.region}"
  assume_role_policy = data.aws_iam_policy_document.canary_trust.json
}

# The permissions CloudWatch Synthetics documents for a canary role, scoped to this
# canary's bucket and log groups.
data "aws_iam_policy_document" "canary" {
  statement {
    sid       = "WriteArtifacts"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "LocateBucket"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  # ListAllMyBuckets has no resource-level permissions: AWS requires "*". Read-only.
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListAllMyBuckets"]
    resources = ["*"]
  }

  # The canary's Lambda function is named cwsyn-<canary>-<id> and creates its own group.
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/cwsyn-${var.canary_name}-*"]
  }

  # PutMetricData has no resource-level permissions: AWS requires "*"; the condition
  # limits it to the Synthetics namespace.
  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["CloudWatchSynthetics"]
    }
  }
}

resource "aws_iam_role_policy" "canary" {
  name   = "canary"
  role   = aws_iam_role.canary.id
  policy = data.aws_iam_policy_document.canary.json
}
