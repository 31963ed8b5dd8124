# Alerts: each function's 5xx rate, messages dead-lettered by every push subscription,
# the backlog on every dead-letter subscription, dead letters stored or rejected by the
# code (log-based), and ledger reconciliation discrepancies (log-based). Every alert
# notifies the same channels: notification_channels plus the alert_email channel.

locals {
  notification_channels = concat(
    var.notification_channels,
    google_monitoring_notification_channel.email[*].id,
  )

  # Log events that mean a message ended up as a dead letter, with the severity each
  # is logged at: the dead_letters function storing what Pub/Sub forwarded, and
  # consumers recording a message they reject (shared/events/consumer.py).
  dead_letter_log_events = {
    "dead_letter.stored"         = "WARNING"
    "dead_letter.malformed_push" = "ERROR"
    "event.rejected"             = "ERROR"
    "event.malformed_push"       = "ERROR"
  }
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == null ? 0 : 1

  display_name = "Tributum ${var.environment} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

# shared/logger.py writes the structlog event name as `message` in Cloud Logging's
# JSON; `event` is matched too so the metrics survive a change of that mapping.
resource "google_logging_metric" "ledger_discrepancy" {
  name        = "ledger_discrepancies"
  description = "Ledger reconciliation discrepancies (log event ledger.discrepancy at ERROR)."
  filter      = "severity>=ERROR AND (jsonPayload.message=\"ledger.discrepancy\" OR jsonPayload.event=\"ledger.discrepancy\")"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Ledger discrepancies"

    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Function that logged the discrepancy."
    }
  }

  label_extractors = {
    function = "EXTRACT(labels.function)"
  }
}

resource "google_logging_metric" "audit_chain_broken" {
  name        = "audit_chain_verification_failures"
  description = "Audit chains that failed verification (log event audit.chain_verification_failed at ERROR)."
  filter      = "severity>=ERROR AND (jsonPayload.message=\"audit.chain_verification_failed\" OR jsonPayload.event=\"audit.chain_verification_failed\")"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Audit chain verification failures"

    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Function that verified the chain."
    }
  }

  label_extractors = {
    function = "EXTRACT(labels.function)"
  }
}

resource "google_logging_metric" "dead_letters" {
  name        = "dead_letters_recorded"
  description = "Dead letters stored by the dead_letters function or recorded by a consumer that rejected a message."
  filter = join(" OR ", [
    for event, severity in local.dead_letter_log_events :
    "(severity>=${severity} AND (jsonPayload.message=\"${event}\" OR jsonPayload.event=\"${event}\"))"
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Dead letters recorded"

    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Function that recorded the dead letter."
    }
    labels {
      key         = "event"
      value_type  = "STRING"
      description = "Log event: dead_letter.stored, event.rejected..."
    }
  }

  label_extractors = {
    function = "EXTRACT(labels.function)"
    event    = "EXTRACT(jsonPayload.message)"
  }
}

# An alert policy on a log-based metric created in the same apply is refused until the
# metric has propagated (a known provider race): the policies wait for this.
resource "time_sleep" "log_metrics_propagation" {
  create_duration = "60s"

  triggers = {
    ledger_discrepancy = google_logging_metric.ledger_discrepancy.id
    audit_chain_broken = google_logging_metric.audit_chain_broken.id
    dead_letters       = google_logging_metric.dead_letters.id
  }
}

resource "google_monitoring_alert_policy" "ledger_discrepancy" {
  display_name          = "Tributum ${var.environment}: ledger discrepancy"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "ledger.discrepancy logged"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.ledger_discrepancy.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The scheduled reconciliation found an account whose balance differs from the sum of its posted lines, or a tenant whose balances do not sum to zero. The log entries carry the account and the difference."
  }

  depends_on = [time_sleep.log_metrics_propagation]
}

resource "google_monitoring_alert_policy" "audit_chain_broken" {
  display_name          = "Tributum ${var.environment}: audit chain verification failed"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "audit.chain_verification_failed logged"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.audit_chain_broken.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A tenant's audit chain no longer verifies: a record's MAC, a link, the sequence or the head is wrong, so someone changed Firestore behind the application. The log entry names the tenant and the first problem; compare with the heads witnessed in the audit-witness log bucket (GET /v1/audit/verify?witness_seq=&witness_hash=)."
  }

  depends_on = [time_sleep.log_metrics_propagation]
}

# The witness of every verified audit head, outside Firestore: audit_verify logs
# audit.chain_witness each hour, and this sink keeps those entries in a bucket whose
# retention is locked, so nobody (the project's owners included) can shorten it or
# delete the bucket before the entries expire. A chain re-signed by someone holding the
# audit key still disagrees with the heads witnessed here.
resource "google_logging_project_bucket_config" "audit_witness" {
  project        = var.project_id
  location       = "global"
  bucket_id      = "audit-witness"
  retention_days = var.audit_witness_retention_days
  locked         = true
  description    = "Hourly witnesses of every tenant's audit chain head (audit.chain_witness)."
}

resource "google_logging_project_sink" "audit_witness" {
  name                   = "audit-witness"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.audit_witness.id}"
  filter                 = "jsonPayload.message=\"audit.chain_witness\" OR jsonPayload.event=\"audit.chain_witness\""
  unique_writer_identity = true
}

resource "google_monitoring_alert_policy" "dead_letters_recorded" {
  display_name          = "Tributum ${var.environment}: dead letters recorded"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "dead letter stored or message rejected"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.dead_letters.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.event"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A message became a dead letter: Pub/Sub gave up delivering it (dead_letter.stored), a consumer rejected it as permanently unprocessable (event.rejected), or it was not a Pub/Sub message at all (*.malformed_push). Inspect it through the dead-letters API, then replay or discard it."
  }

  depends_on = [time_sleep.log_metrics_propagation]
}

resource "google_monitoring_alert_policy" "function_5xx" {
  for_each = local.functions

  display_name          = "Tributum ${var.environment}: ${each.key} 5xx rate"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${each.key}: share of requests answered 5xx"

    # service_name is the Cloud Run service's short name, which is the function's name.
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.function[each.key].name}\" AND metric.labels.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.function[each.key].name}\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_ratio_threshold
      duration           = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than the configured share of ${each.key}'s requests failed with 5xx for five minutes. For an event function each 5xx is a failed delivery that Pub/Sub retries and eventually dead-letters."
  }
}

# Pub/Sub counts what each source subscription forwards to its dead-letter topic.
resource "google_monitoring_alert_policy" "dead_lettered" {
  for_each = local.push_subscriptions

  display_name          = "Tributum ${var.environment}: ${each.key} dead-lettered messages"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${each.key} forwarded messages to ${local.topics[each.value.topic].dead_letter_topic}"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.push[each.key].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_DELTA"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.value.function} failed to process messages of ${each.value.topic} ${each.value.max_delivery_attempts} times, so Pub/Sub forwarded them to ${local.topics[each.value.topic].dead_letter_topic}. They are stored as dead letters: inspect them through the dead-letters API, fix the cause, then replay or discard them."
  }
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  for_each = local.topics

  display_name          = "Tributum ${var.environment}: dead letters waiting on ${each.value.dead_letter_subscription}"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${each.value.dead_letter_subscription} undelivered messages"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter[each.key].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.dead_letter_backlog_threshold
      duration        = "300s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages of ${each.key} exhausted their delivery attempts and are waiting on ${each.value.dead_letter_subscription}. Inspect and replay or discard them through the dead-letters API."
  }
}
