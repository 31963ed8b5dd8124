# Alerts: each function's 5xx rate, the backlog on every dead-letter subscription,
# and ledger reconciliation discrepancies.

# shared/logger.py writes the structlog event name as `message` in Cloud Logging's
# JSON; `event` is matched too so the metric survives a change of that mapping.
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

resource "google_monitoring_alert_policy" "ledger_discrepancy" {
  display_name          = "Tributum ${var.environment}: ledger discrepancy"
  combiner              = "OR"
  notification_channels = var.notification_channels

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
}

resource "google_monitoring_alert_policy" "function_5xx" {
  for_each = local.functions

  display_name          = "Tributum ${var.environment}: ${each.key} 5xx rate"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "${each.key}: share of requests answered 5xx"

    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.function[each.key].service_config[0].service}\" AND metric.labels.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.function[each.key].service_config[0].service}\""
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

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  for_each = local.topics

  display_name          = "Tributum ${var.environment}: dead letters waiting on ${each.value.dead_letter_subscription}"
  combiner              = "OR"
  notification_channels = var.notification_channels

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
