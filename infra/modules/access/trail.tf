# CloudTrail data events for exactly the operator function: every Invoke with the
# caller's real identity (the assumed role and its session name), the request id the
# audit record keeps, and the time. Only when no existing trail is named.

locals {
  create_trail = var.existing_trail_name == null
  trail_name   = "${var.name_prefix}-operator-invocations"
  trail_arn    = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  bucket       = "${var.name_prefix}-operator-trail-${local.account_id}-${local.region}"
}

resource "aws_kms_key" "trail" {
  count = local.create_trail ? 1 : 0

  description             = "${var.name_prefix}: the operator function's CloudTrail log files"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
}

resource "aws_kms_key_policy" "trail" {
  count = local.create_trail ? 1 : 0

  key_id = aws_kms_key.trail[0].id
  policy = data.aws_iam_policy_document.trail_key.json
}

data "aws_iam_policy_document" "trail_key" {
  statement {
    sid       = "AccountIam"
    actions   = ["kms:*"]
    resources = aws_kms_key.trail[*].arn

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudTrail encrypts this trail's log files, and nothing else.
  statement {
    sid       = "CloudTrailEncrypt"
    actions   = ["kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = aws_kms_key.trail[*].arn

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_s3_bucket" "trail" {
  #checkov:skip=CKV_AWS_18:This bucket is itself the audit record of one function's invocations; access logs of it would need a bucket of their own, with the same question.
  #checkov:skip=CKV_AWS_144:The trail is of one function in one region; cross-region replication would add a bucket, a role and a dependency for a record CloudTrail's event history also holds for 90 days.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new log files; they are read on demand when an invocation is investigated.
  count = local.create_trail ? 1 : 0

  bucket = local.bucket
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count = local.create_trail ? 1 : 0

  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.trail[0].arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    id     = "expire-log-files"
    status = "Enabled"

    filter {}

    expiration {
      days = var.trail_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.trail]
}

data "aws_iam_policy_document" "trail_bucket" {
  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = aws_s3_bucket.trail[*].arn

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = [for b in aws_s3_bucket.trail : "${b.arn}/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = flatten([for b in aws_s3_bucket.trail : [b.arn, "${b.arn}/*"]])

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

resource "aws_s3_bucket_policy" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.trail]
}

resource "aws_cloudtrail" "operator" {
  #checkov:skip=CKV_AWS_67:Records one regional function's invocations; a multi-region trail would record nothing more.
  #checkov:skip=CKV_AWS_252:Nobody is notified per log file; the audit record and the alerts are the operational signal, the trail is the evidence.
  #checkov:skip=CKV2_AWS_10:Read on demand from S3 (or CloudTrail Lake/Athena); a CloudWatch Logs copy of every invocation would add cost and a role for no alarm.
  count = local.create_trail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  kms_key_id                    = aws_kms_key.trail[0].arn
  enable_log_file_validation    = true
  include_global_service_events = false
  is_multi_region_trail         = false

  # Data events of the operator function only (no management events).
  advanced_event_selector {
    name = "Invocations of the operator function"

    field_selector {
      field  = "eventCategory"
      equals = ["Data"]
    }

    field_selector {
      field  = "resources.type"
      equals = ["AWS::Lambda::Function"]
    }

    field_selector {
      field  = "resources.ARN"
      equals = [var.operator_function_arn]
    }
  }

  depends_on = [aws_s3_bucket_policy.trail, aws_kms_key_policy.trail]
}
