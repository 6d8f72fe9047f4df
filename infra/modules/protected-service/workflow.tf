# The runbook after the switch (the catalog's `workflow`) and the capacity pre-flight
# (`preflight.capacity`): the inputs, the catalog fields generated from them, and the ARNs
# the functions act on, which the root grants them (infra/iam.tf) and nothing else.

variable "workflow" {
  description = "The runbook run after the switch, in order (the catalog's workflow): each step has an id (unique; A-Z a-z 0-9 _ . -, at most 64), a kind and only that kind's fields. autoscaling_group: region, name, min, desired, optional max and on_failback {min, desired}; ecs_service: region, cluster, service, desired, optional on_failback {desired}; rds_read_replica: region, identifier; aurora_global: global_cluster, target_cluster_arn, optional allow_data_loss (default false); invoke: function_arn. approval is none or required; unset, it is none for autoscaling_group, ecs_service and invoke, required for the database kinds. The functions are granted each step's calls on exactly its resource."
  type = list(object({
    id                 = string
    kind               = string
    approval           = optional(string)
    region             = optional(string)
    name               = optional(string)
    min                = optional(number)
    max                = optional(number)
    desired            = optional(number)
    cluster            = optional(string)
    service            = optional(string)
    identifier         = optional(string)
    global_cluster     = optional(string)
    target_cluster_arn = optional(string)
    allow_data_loss    = optional(bool)
    function_arn       = optional(string)
    on_failback = optional(object({
      min     = optional(number)
      desired = number
    }))
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(var.workflow) <= 20
    error_message = "workflow has at most 20 steps."
  }

  validation {
    condition     = alltrue([for s in var.workflow : contains(["autoscaling_group", "ecs_service", "rds_read_replica", "aurora_global", "invoke"], s.kind)])
    error_message = "workflow: each step's kind must be autoscaling_group, ecs_service, rds_read_replica, aurora_global or invoke."
  }

  validation {
    condition     = length(distinct([for s in var.workflow : s.id])) == length(var.workflow)
    error_message = "workflow: step ids must be unique."
  }

  validation {
    condition     = alltrue([for s in var.workflow : can(regex("^[A-Za-z0-9_.-]{1,64}$", s.id))])
    error_message = "workflow: a step id must be 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-'."
  }

  validation {
    condition     = alltrue([for s in var.workflow : s.approval == null ? true : contains(["none", "required"], s.approval)])
    error_message = "workflow: a step's approval must be \"none\" or \"required\" (or unset for the kind's default)."
  }

  # The functions refuse a field the step's kind does not use, and a missing required one.
  validation {
    condition = alltrue([for s in var.workflow : alltrue([
      for k, v in s : v == null || contains(concat(["id", "kind", "approval"], lookup({
        autoscaling_group = ["region", "name", "min", "max", "desired", "on_failback"]
        ecs_service       = ["region", "cluster", "service", "desired", "on_failback"]
        rds_read_replica  = ["region", "identifier"]
        aurora_global     = ["global_cluster", "target_cluster_arn", "allow_data_loss"]
        invoke            = ["function_arn"]
      }, s.kind, [])), k)
    ])])
    error_message = "workflow: a step sets a field its kind does not use (autoscaling_group: region, name, min, max, desired, on_failback; ecs_service: region, cluster, service, desired, on_failback; rds_read_replica: region, identifier; aurora_global: global_cluster, target_cluster_arn, allow_data_loss; invoke: function_arn)."
  }

  validation {
    condition = alltrue([for s in var.workflow : alltrue([
      for k in lookup({
        autoscaling_group = ["region", "name", "min", "desired"]
        ecs_service       = ["region", "cluster", "service", "desired"]
        rds_read_replica  = ["region", "identifier"]
        aurora_global     = ["global_cluster", "target_cluster_arn"]
        invoke            = ["function_arn"]
      }, s.kind, []) : s[k] != null
    ])])
    error_message = "workflow: a step misses a field its kind requires (autoscaling_group: region, name, min, desired; ecs_service: region, cluster, service, desired; rds_read_replica: region, identifier; aurora_global: global_cluster, target_cluster_arn; invoke: function_arn)."
  }

  validation {
    condition = alltrue([for s in var.workflow : alltrue([
      for v in [s.region, s.name, s.cluster, s.service, s.identifier, s.global_cluster] : v == null ? true : can(regex("^[^\\s:/*?]{1,255}$", v))
    ])]) && alltrue([for s in var.workflow : s.region == null ? true : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", s.region))])
    error_message = "workflow: region must be an AWS region name such as eu-west-1; name, cluster, service, identifier and global_cluster must be names (no spaces, ':', '/', '*' or '?'), since each becomes part of an IAM resource ARN."
  }

  validation {
    condition = alltrue([for s in var.workflow : alltrue([
      for n in concat([s.min, s.max, s.desired], s.on_failback == null ? [] : [s.on_failback.min, s.on_failback.desired]) : n == null ? true : (n >= 0 && n <= 10000 && floor(n) == n)
    ])])
    error_message = "workflow: min, max, desired and on_failback's min and desired must be whole numbers between 0 and 10000."
  }

  validation {
    condition = alltrue([for s in var.workflow : (
      (s.min == null || s.desired == null ? true : s.desired >= s.min) &&
      (s.max == null || s.desired == null ? true : s.max >= s.desired) &&
      (s.on_failback == null ? true : (s.on_failback.min == null ? true : s.on_failback.desired >= s.on_failback.min))
    )])
    error_message = "workflow: desired must be at least min, max at least desired, and on_failback.desired at least on_failback.min."
  }

  validation {
    condition     = alltrue([for s in var.workflow : s.kind != "ecs_service" || s.on_failback == null ? true : s.on_failback.min == null])
    error_message = "workflow: an ecs_service step's on_failback takes only desired (an ECS service has only a desired count)."
  }

  validation {
    condition = alltrue([for s in var.workflow : (
      (s.target_cluster_arn == null ? true : can(regex("^arn:[a-z-]+:rds:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:cluster:[^\\s*?]+$", s.target_cluster_arn))) &&
      (s.function_arn == null ? true : can(regex("^arn:[a-z-]+:lambda:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:function:[^\\s*?]+$", s.function_arn)))
    )])
    error_message = "workflow: target_cluster_arn must be an Aurora DB cluster ARN (arn:aws:rds:<region>:<account>:cluster:<name>) and function_arn a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)."
  }
}

variable "preflight_capacity" {
  description = "Pre-flight (the catalog's preflight.capacity): the secondary's warm capacity an automatic failover needs. kind autoscaling_group (region, name: the group's InService instances) or ecs_service (region, cluster, service: the service's running tasks), and at_least (1-10000). null for none."
  type = object({
    kind     = string
    region   = string
    name     = optional(string)
    cluster  = optional(string)
    service  = optional(string)
    at_least = number
  })
  default = null

  validation {
    condition = var.preflight_capacity == null ? true : (
      can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.preflight_capacity.region)) &&
      var.preflight_capacity.at_least >= 1 && var.preflight_capacity.at_least <= 10000 &&
      floor(var.preflight_capacity.at_least) == var.preflight_capacity.at_least
    )
    error_message = "preflight_capacity needs an AWS region name and a whole at_least between 1 and 10000."
  }

  validation {
    condition = var.preflight_capacity == null ? true : (
      var.preflight_capacity.kind == "autoscaling_group" ? (
        var.preflight_capacity.cluster == null && var.preflight_capacity.service == null &&
        can(regex("^[^\\s:/*?]{1,255}$", coalesce(var.preflight_capacity.name, " ")))
        ) : var.preflight_capacity.kind == "ecs_service" ? (
        var.preflight_capacity.name == null &&
        can(regex("^[^\\s:/*?]{1,255}$", coalesce(var.preflight_capacity.cluster, " "))) &&
        can(regex("^[^\\s:/*?]{1,255}$", coalesce(var.preflight_capacity.service, " ")))
      ) : false
    )
    error_message = "preflight_capacity: kind autoscaling_group takes name; kind ecs_service takes cluster and service (names, no spaces, ':', '/', '*' or '?')."
  }
}

locals {
  # Every field of a step, null: a step given without its optional fields reads the same.
  no_step_fields = {
    approval           = null
    region             = null
    name               = null
    min                = null
    max                = null
    desired            = null
    cluster            = null
    service            = null
    identifier         = null
    global_cluster     = null
    target_cluster_arn = null
    allow_data_loss    = null
    function_arn       = null
    on_failback        = null
  }
  workflow_steps = [for s in var.workflow : merge(local.no_step_fields, s)]

  # The catalog's workflow: each step with only the fields it sets (unset ones take the
  # functions' defaults, e.g. the kind's approval).
  catalog_workflow = [
    for s in local.workflow_steps : {
      for k, v in merge(s, {
        on_failback = s.on_failback == null ? null : { for bk, bv in merge({ min = null }, s.on_failback) : bk => bv if bv != null }
      }) : k => v if v != null
    }
  ]

  capacity = var.preflight_capacity == null ? null : merge({ name = null, cluster = null, service = null }, var.preflight_capacity)
  # The functions read the floor as one of two shapes and refuse the other shape's fields.
  catalog_capacity = local.capacity == null ? null : { for k, v in local.capacity : k => v if v != null }

  # The ARNs each of the functions' calls acts on (the root grants exactly these).
  arn_prefix = "arn:${local.partition}"
  asg_arns = [
    for s in local.workflow_steps : "${local.arn_prefix}:autoscaling:${s.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${s.name}"
    if s.kind == "autoscaling_group"
  ]
  ecs_arns = [
    for s in local.workflow_steps : "${local.arn_prefix}:ecs:${s.region}:${local.account_id}:service/${s.cluster}/${s.service}"
    if s.kind == "ecs_service"
  ]
  capacity_asg_arns = [
    for c in(local.capacity == null ? [] : [local.capacity]) : "${local.arn_prefix}:autoscaling:${c.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${c.name}"
    if c.kind == "autoscaling_group"
  ]
  capacity_ecs_arns = [
    for c in(local.capacity == null ? [] : [local.capacity]) : "${local.arn_prefix}:ecs:${c.region}:${local.account_id}:service/${c.cluster}/${c.service}"
    if c.kind == "ecs_service"
  ]
  db_arns = [
    for s in local.workflow_steps : "${local.arn_prefix}:rds:${s.region}:${local.account_id}:db:${s.identifier}"
    if s.kind == "rds_read_replica"
  ]
  aurora_steps = [for s in local.workflow_steps : s if s.kind == "aurora_global"]
  # A global cluster's ARN has no region.
  global_cluster_arns = [for s in local.aurora_steps : "${local.arn_prefix}:rds::${local.account_id}:global-cluster:${s.global_cluster}"]

  workflow_resources = {
    update_autoscaling_group = local.asg_arns
    # Read back after each scale step, and the capacity floor's InService count.
    describe_autoscaling_groups = concat(local.asg_arns, local.capacity_asg_arns)
    update_service              = local.ecs_arns
    describe_services           = concat(local.ecs_arns, local.capacity_ecs_arns)
    promote_read_replica        = local.db_arns
    describe_db_instances       = local.db_arns
    # Switchover needs both the global cluster and the target (secondary) cluster.
    switchover_global_cluster = concat(local.global_cluster_arns, [for s in local.aurora_steps : s.target_cluster_arn])
    # Failover with AllowDataLoss only for the steps that allow it.
    failover_global_cluster = concat(
      [for s in local.aurora_steps : "${local.arn_prefix}:rds::${local.account_id}:global-cluster:${s.global_cluster}" if s.allow_data_loss == true],
      [for s in local.aurora_steps : s.target_cluster_arn if s.allow_data_loss == true],
    )
    describe_global_clusters = local.global_cluster_arns
    invoke_function          = [for s in local.workflow_steps : s.function_arn if s.kind == "invoke"]
  }
}
