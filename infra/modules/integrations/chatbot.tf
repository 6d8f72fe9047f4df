# The alert topic in a Slack channel through AWS Chatbot (Amazon Q Developer in chat
# applications): aws_chatbot_slack_channel_configuration, in hashicorp/aws since 5.61
# (this module requires >= 5.70). Notifications only: the channel's role has no
# permissions and the guardrail caps what anyone could ever do from the channel at
# read-only.

data "aws_iam_policy_document" "chatbot_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "chatbot" {
  count = var.slack != null ? 1 : 0

  name               = "${var.name_prefix}-chatbot"
  description        = "AWS Chatbot channel for the failover alerts: notifications only, no permissions"
  assume_role_policy = data.aws_iam_policy_document.chatbot_trust.json
}

resource "aws_chatbot_slack_channel_configuration" "alerts" {
  count = var.slack != null ? 1 : 0

  configuration_name          = "${var.name_prefix}-alerts"
  iam_role_arn                = aws_iam_role.chatbot[0].arn
  slack_team_id               = var.slack.team_id
  slack_channel_id            = var.slack.channel_id
  sns_topic_arns              = [var.topic_arn]
  guardrail_policy_arns       = ["arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"]
  user_authorization_required = true
  logging_level               = "ERROR"
}
