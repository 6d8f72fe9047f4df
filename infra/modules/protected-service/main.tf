data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  calculated  = length(var.primary_child_fqdns) > 0
  alias       = var.primary_alias != null
  hc_type     = var.health_search_string == null ? "HTTPS" : "HTTPS_STR_MATCH"
  record_type = local.alias ? "A" : var.record_type

  canary_name = coalesce(var.canary_name, substr(trim(replace(lower(var.name), "/[^0-9a-z_-]/", "-"), "-_"), 0, 21))
  canary_url  = coalesce(var.canary_url, "https://${var.record_name}${var.health_path}")

  # Where observer and early-warning alarm events are forwarded (same account, so the
  # bus needs no policy; the forwarding role carries the permission).
  control_bus_arn = "arn:${local.partition}:events:${var.control_region}:${local.account_id}:event-bus/default"

  # metric and both: the switch is a metric in the secondary region, whose alarm a
  # CLOUDWATCH_METRIC check watches; the PRIMARY record then carries a CALCULATED check
  # over that check and the endpoint check. One for_each key per switch resource, none in
  # health_check mode (and one for the probe while primary_probe is set).
  metric_switch = contains(["metric", "both"], var.switch_mode)
  switch_keys   = local.metric_switch ? { primary = var.name } : {}
  probe_keys    = var.primary_probe ? { primary = var.name } : {}

  switch_alarm_arn      = local.metric_switch ? aws_cloudwatch_metric_alarm.primary_switch["primary"].arn : null
  probe_health_check_id = var.primary_probe ? aws_route53_health_check.primary_probe["primary"].id : null

  # The check the PRIMARY record answers by: the endpoint check itself (health_check), or
  # the CALCULATED check that also requires the switch metric's check (metric, both).
  record_health_check_id = local.metric_switch ? aws_route53_health_check.primary_combined["primary"].id : aws_route53_health_check.primary.id

  # The observers' canary alarms, in observer order: the catalog's observers.
  observer_alarm_arns = [
    module.observer_a.alarm_arn,
    module.observer_b.alarm_arn,
    module.observer_c.alarm_arn,
  ]

  # The catalog entry, exactly the README's schema, built from the resources it names so
  # the catalog cannot disagree with them. Optional fields are null when unset (the
  # functions read null as absent).
  definition = {
    name = var.name
    primary = {
      region = var.primary_region
      # The endpoint check, which the health_check mechanism flips (health_check, both),
      # whatever check the PRIMARY record carries.
      health_check_id       = aws_route53_health_check.primary.id
      probe_health_check_id = local.probe_health_check_id
    }
    secondary = {
      region          = var.secondary_region
      health_check_id = aws_route53_health_check.secondary.id
    }
    observers                  = local.observer_alarm_arns
    quorum                     = var.quorum
    vote_window_seconds        = var.vote_window_seconds
    max_event_age_seconds      = var.max_event_age_seconds
    cooldown_seconds           = var.cooldown_seconds
    max_auto_failovers_per_day = var.max_auto_failovers_per_day
    enforce                    = var.enforce
    switch = {
      mode      = var.switch_mode
      alarm_arn = local.switch_alarm_arn
    }
    failback_min_healthy_seconds = var.failback_min_healthy_seconds
    recovery_timeout_seconds     = var.recovery_timeout_seconds
    readiness_interval_seconds   = var.readiness_interval_seconds
    preflight = {
      secondary_health_check            = var.secondary_health_check
      secondary_alarm_arn               = var.secondary_alarm_arn
      secondary_alarm_insufficient_data = var.secondary_alarm_insufficient_data
      replica_lag                       = var.replica_lag
      capacity                          = local.catalog_capacity
    }
    workflow = local.catalog_workflow
  }
}

# ---- health checks ------------------------------------------------------------------

# Optional per-zone checks of the primary; the primary check below then requires
# primary_child_quorum of them to be healthy.
resource "aws_route53_health_check" "primary_child" {
  for_each = toset(var.primary_child_fqdns)

  type              = local.hc_type
  fqdn              = each.value
  port              = var.health_port
  resource_path     = var.health_path
  search_string     = var.health_search_string
  request_interval  = var.health_check_interval
  failure_threshold = var.failure_threshold
  regions           = var.health_check_regions
  enable_sni        = true

  tags = {
    Name = "${var.name}-primary-${each.value}"
  }
}

resource "aws_route53_health_check" "primary" {
  type                   = local.calculated ? "CALCULATED" : local.hc_type
  fqdn                   = local.calculated ? null : var.primary_fqdn
  port                   = local.calculated ? null : var.health_port
  resource_path          = local.calculated ? null : var.health_path
  search_string          = local.calculated ? null : var.health_search_string
  request_interval       = local.calculated ? null : var.health_check_interval
  failure_threshold      = local.calculated ? null : var.failure_threshold
  regions                = local.calculated ? null : var.health_check_regions
  enable_sni             = local.calculated ? null : true
  child_healthchecks     = local.calculated ? [for c in aws_route53_health_check.primary_child : c.id] : null
  child_health_threshold = local.calculated ? var.primary_child_quorum : null

  tags = {
    Name = "${var.name}-primary"
  }

  lifecycle {
    # Failover sets Disabled+Inverted on this check and failback restores them: a later
    # apply must never undo either.
    ignore_changes = [disabled, invert_healthcheck]

    precondition {
      condition     = var.primary_region != var.secondary_region
      error_message = "primary_region and secondary_region must differ."
    }

    precondition {
      condition     = !local.calculated || var.primary_child_quorum <= length(var.primary_child_fqdns)
      error_message = "primary_child_quorum must be at most the number of primary_child_fqdns."
    }

    # Route 53: "You can't configure a calculated health check to monitor the health of
    # other calculated health checks" (Developer Guide, calculated health checks), and
    # "at least k of the zones and the switch" is no single threshold over zones + switch.
    precondition {
      condition     = !(local.metric_switch && local.calculated)
      error_message = "switch_mode \"metric\" and \"both\" need a plain primary check: leave primary_child_fqdns empty (a calculated check cannot be the child of the record's calculated check)."
    }
  }
}

# The probe: the same endpoint, watched the same way (a CALCULATED check over the same
# per-zone children with the same quorum, when the primary has them), and never flipped,
# so the primary's real health stays visible while its check is forced or the switch
# metric holds it out. Its status gates a failback without force.
resource "aws_route53_health_check" "primary_probe" {
  for_each = local.probe_keys

  type                   = local.calculated ? "CALCULATED" : local.hc_type
  fqdn                   = local.calculated ? null : var.primary_fqdn
  port                   = local.calculated ? null : var.health_port
  resource_path          = local.calculated ? null : var.health_path
  search_string          = local.calculated ? null : var.health_search_string
  request_interval       = local.calculated ? null : var.health_check_interval
  failure_threshold      = local.calculated ? null : var.failure_threshold
  regions                = local.calculated ? null : var.health_check_regions
  enable_sni             = local.calculated ? null : true
  child_healthchecks     = local.calculated ? [for c in aws_route53_health_check.primary_child : c.id] : null
  child_health_threshold = local.calculated ? var.primary_child_quorum : null

  tags = {
    Name = "${var.name}-primary-probe"
  }
}

# metric and both: Route 53 watches the switch alarm's data stream (not its state):
# healthy while it says OK, unhealthy while it says ALARM, i.e. while PrimaryForcedOut is
# 1 (Developer Guide, "How Route 53 determines whether a health check is healthy").
# LastKnownStatus: a stream that goes silent neither fails over nor fails back. If the
# alarm's settings ever change, this check must be updated too (Route 53 copies them).
resource "aws_route53_health_check" "primary_switch" {
  for_each = local.switch_keys

  type                            = "CLOUDWATCH_METRIC"
  cloudwatch_alarm_name           = aws_cloudwatch_metric_alarm.primary_switch[each.key].alarm_name
  cloudwatch_alarm_region         = var.secondary_region
  insufficient_data_health_status = "LastKnownStatus"

  tags = {
    Name = "${var.name}-primary-switch"
  }
}

# metric and both: the PRIMARY record's check, healthy only while both children are: the
# endpoint check (which the health_check mechanism flips in both mode) and the switch
# metric's check. Nothing flips this one.
resource "aws_route53_health_check" "primary_combined" {
  for_each = local.switch_keys

  type                   = "CALCULATED"
  child_healthchecks     = [aws_route53_health_check.primary.id, aws_route53_health_check.primary_switch[each.key].id]
  child_health_threshold = 2

  tags = {
    Name = "${var.name}-primary-record"
  }
}

resource "aws_route53_health_check" "secondary" {
  type              = local.hc_type
  fqdn              = var.secondary_fqdn
  port              = var.health_port
  resource_path     = var.health_path
  search_string     = var.health_search_string
  request_interval  = var.health_check_interval
  failure_threshold = var.failure_threshold
  regions           = var.health_check_regions
  enable_sni        = true

  tags = {
    Name = "${var.name}-secondary"
  }
}

# ---- failover records -----------------------------------------------------------------

resource "aws_route53_record" "primary" {
  zone_id         = var.zone_id
  name            = var.record_name
  type            = local.record_type
  set_identifier  = "${var.name}-primary"
  health_check_id = local.record_health_check_id
  ttl             = local.alias ? null : var.ttl
  records         = local.alias ? null : (var.primary_records != null ? var.primary_records : [var.primary_fqdn])

  failover_routing_policy {
    type = "PRIMARY"
  }

  dynamic "alias" {
    for_each = var.primary_alias != null ? [var.primary_alias] : []

    content {
      name                   = alias.value.name
      zone_id                = alias.value.zone_id
      evaluate_target_health = true
    }
  }

  lifecycle {
    precondition {
      condition     = local.alias || var.record_type == "CNAME" || var.primary_records != null
      error_message = "A and AAAA plain records need primary_records (addresses)."
    }
  }
}

resource "aws_route53_record" "secondary" {
  zone_id         = var.zone_id
  name            = var.record_name
  type            = local.record_type
  set_identifier  = "${var.name}-secondary"
  health_check_id = aws_route53_health_check.secondary.id
  ttl             = local.alias ? null : var.secondary_ttl
  records         = local.alias ? null : (var.secondary_records != null ? var.secondary_records : [var.secondary_fqdn])

  failover_routing_policy {
    type = "SECONDARY"
  }

  dynamic "alias" {
    for_each = var.secondary_alias != null ? [var.secondary_alias] : []

    content {
      name                   = alias.value.name
      zone_id                = alias.value.zone_id
      evaluate_target_health = true
    }
  }

  lifecycle {
    precondition {
      condition     = (var.primary_alias == null) == (var.secondary_alias == null)
      error_message = "Set both primary_alias and secondary_alias, or neither: a failover pair has one record type."
    }

    precondition {
      condition     = var.secondary_ttl >= var.ttl
      error_message = "secondary_ttl must be at least ttl."
    }

    precondition {
      condition     = local.alias || var.record_type == "CNAME" || var.secondary_records != null
      error_message = "A and AAAA plain records need secondary_records (addresses)."
    }
  }
}

# ---- catalog --------------------------------------------------------------------------

resource "aws_dynamodb_table_item" "catalog" {
  table_name = var.table_name
  hash_key   = "pk"
  range_key  = "sk"

  item = jsonencode({
    pk         = { S = "catalog" }
    sk         = { S = var.name }
    definition = { S = jsonencode(local.definition) }
  })

  lifecycle {
    precondition {
      condition     = var.quorum >= 1 && var.quorum <= length(local.observer_alarm_arns)
      error_message = "quorum must be between 1 and the number of observers."
    }
  }
}
