# Alarm state changes are emitted on the default bus of the alarm's own region. Each
# region other than the control region forwards this service's alarm events to the
# control region's default bus; there the control plane routes observer votes to
# alarm-trigger and early warnings to the alert topic. The observers' rules are in
# modules/observer; the early warnings' are here.

data "aws_iam_policy_document" "forwarder_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# IAM is global: one role serves the rules of every region.
resource "aws_iam_role" "forwarder" {
  name               = "${var.name}-alarm-forwarder"
  description        = "Forwards ${var.name}'s alarm events to the control region's default event bus"
  assume_role_policy = data.aws_iam_policy_document.forwarder_trust.json
}

data "aws_iam_policy_document" "forwarder" {
  statement {
    sid       = "ControlBusOnly"
    actions   = ["events:PutEvents"]
    resources = [local.control_bus_arn]
  }
}

resource "aws_iam_role_policy" "forwarder" {
  name   = "put-events-control-bus"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.forwarder.json
}

locals {
  # The role's ARN read through its policy, for the observer modules' targets: a
  # depends_on cannot reach into a module, and this makes each of them wait until the
  # role may put events on the control bus, as depends_on does for the targets below.
  forwarder_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${aws_iam_role_policy.forwarder.role}"
}

# ---- early warnings -------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "forward_health" {
  provider = aws.us_east_1
  count    = var.control_region == "us-east-1" ? 0 : 1

  name        = "${var.name}-health-to-control"
  description = "${var.name}'s primary health early warnings, to the control region's bus"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = [for a in aws_cloudwatch_metric_alarm.primary_health : a.arn]
  })
}

resource "aws_cloudwatch_event_target" "forward_health" {
  provider = aws.us_east_1
  count    = length(aws_cloudwatch_event_rule.forward_health)

  rule      = aws_cloudwatch_event_rule.forward_health[0].name
  target_id = "control-bus"
  arn       = local.control_bus_arn
  role_arn  = aws_iam_role.forwarder.arn

  depends_on = [aws_iam_role_policy.forwarder]
}

resource "aws_cloudwatch_event_rule" "forward_lag" {
  provider = aws.replica
  count    = try(var.replica_lag.region, var.control_region) == var.control_region ? 0 : 1

  name        = "${var.name}-lag-to-control"
  description = "${var.name}'s replica lag early warning, to the control region's bus"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = aws_cloudwatch_metric_alarm.replica_lag[*].arn
  })
}

resource "aws_cloudwatch_event_target" "forward_lag" {
  provider = aws.replica
  count    = length(aws_cloudwatch_event_rule.forward_lag)

  rule      = aws_cloudwatch_event_rule.forward_lag[0].name
  target_id = "control-bus"
  arn       = local.control_bus_arn
  role_arn  = aws_iam_role.forwarder.arn

  depends_on = [aws_iam_role_policy.forwarder]
}
