# Who may act. Three roles, each assumable only by the principals the user lists, are the
# only principals the operator function's resource policy admits; CloudTrail data events
# record every invocation with the caller's real identity. What IAM cannot enforce here
# (which action a caller sends) is in this module's README.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  roles = {
    operator = {
      principals  = var.operator_principals
      description = "Invokes the failover operator function: failover, failback, pause, resume, status"
    }
    approver = {
      principals  = var.approver_principals
      description = "Invokes the failover operator function to approve or decline a workflow step (and status)"
    }
    readonly = {
      principals  = var.readonly_principals
      description = "Invokes the failover operator function for status only"
    }
  }
  # A role nobody may assume is not created.
  created_roles = { for name, r in local.roles : name => r if length(r.principals) > 0 }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.created_roles

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = each.value.principals
    }
  }
}

resource "aws_iam_role" "role" {
  for_each = local.created_roles

  name                 = "${var.name_prefix}-operator-${each.key}"
  description          = each.value.description
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = var.max_session_seconds
}

# IAM sees lambda:InvokeFunction, never the payload: each role may invoke only its own
# alias of the function, and the function refuses the actions that alias does not allow
# (operator: every action; approver: approve, decline, status; readonly: status).
resource "aws_lambda_alias" "role" {
  for_each = local.created_roles

  name             = each.key
  description      = "Invoked by the ${each.key} role; the function allows only its actions"
  function_name    = var.operator_function_name
  function_version = "$LATEST"
}

data "aws_iam_policy_document" "invoke_operator" {
  for_each = local.created_roles

  statement {
    sid       = "InvokeOperatorAlias"
    actions   = ["lambda:InvokeFunction"]
    resources = ["${var.operator_function_arn}:${each.key}"]
  }
}

resource "aws_iam_role_policy" "role" {
  for_each = local.created_roles

  name   = "invoke-operator"
  role   = aws_iam_role.role[each.key].id
  policy = data.aws_iam_policy_document.invoke_operator[each.key].json
}

# The function's resource policy names these roles and nobody else. In the same account
# an identity policy alone also suffices to invoke, so the deny for everyone else is an
# SCP or a permissions boundary (README).
resource "aws_lambda_permission" "role" {
  for_each = local.created_roles

  statement_id  = "${each.key}-role"
  action        = "lambda:InvokeFunction"
  function_name = var.operator_function_name
  qualifier     = aws_lambda_alias.role[each.key].name
  principal     = aws_iam_role.role[each.key].arn
}
