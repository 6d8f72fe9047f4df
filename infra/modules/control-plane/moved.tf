# Each function had its own resources before they came from one map (functions.tf):
# these blocks move an existing deployment's state to the new addresses, so a plan
# neither destroys nor recreates anything.

moved {
  from = aws_iam_role.alarm_trigger
  to   = aws_iam_role.function["alarm_trigger"]
}

moved {
  from = aws_iam_role.operator
  to   = aws_iam_role.function["operator"]
}

moved {
  from = aws_iam_role.reconciler
  to   = aws_iam_role.function["reconciler"]
}

moved {
  from = aws_iam_role_policy.alarm_trigger
  to   = aws_iam_role_policy.function["alarm_trigger"]
}

moved {
  from = aws_iam_role_policy.operator
  to   = aws_iam_role_policy.function["operator"]
}

moved {
  from = aws_iam_role_policy.reconciler
  to   = aws_iam_role_policy.function["reconciler"]
}

moved {
  from = aws_cloudwatch_log_group.alarm_trigger
  to   = aws_cloudwatch_log_group.function["alarm_trigger"]
}

moved {
  from = aws_cloudwatch_log_group.operator
  to   = aws_cloudwatch_log_group.function["operator"]
}

moved {
  from = aws_cloudwatch_log_group.reconciler
  to   = aws_cloudwatch_log_group.function["reconciler"]
}

moved {
  from = aws_lambda_function.alarm_trigger
  to   = aws_lambda_function.function["alarm_trigger"]
}

moved {
  from = aws_lambda_function.operator
  to   = aws_lambda_function.function["operator"]
}

moved {
  from = aws_lambda_function.reconciler
  to   = aws_lambda_function.function["reconciler"]
}

moved {
  from = aws_lambda_function_event_invoke_config.alarm_trigger
  to   = aws_lambda_function_event_invoke_config.function["alarm_trigger"]
}

moved {
  from = aws_lambda_function_event_invoke_config.reconciler
  to   = aws_lambda_function_event_invoke_config.function["reconciler"]
}
