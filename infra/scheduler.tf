# Cloud Scheduler publishes a tick to every topic whose manifest entry has a schedule.
#
# Scheduler sends the same bytes on every run, so the tick envelope's id and time
# are constants: consumers of schedule.tick take the Pub/Sub message id and
# publish time (which differ per tick) as the tick's identity and time.

resource "google_cloud_scheduler_job" "tick" {
  for_each = local.scheduled_topics

  name        = each.key
  region      = var.region
  description = "Publishes schedule.tick to ${each.key}."
  schedule    = each.value.cron
  time_zone   = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.key].id
    data = base64encode(jsonencode({
      id             = "cloud-scheduler:${each.key}"
      type           = "schedule.tick"
      source         = "cloud-scheduler"
      subject        = each.key
      time           = "1970-01-01T00:00:00Z"
      tenant_id      = "*"
      correlation_id = "cloud-scheduler:${each.key}"
      schema_version = 1
      data           = { topic = each.key }
    }))
    attributes = {
      type           = "schedule.tick"
      correlation_id = "cloud-scheduler:${each.key}"
      tenant_id      = "*"
      schema_version = "1"
    }
  }

  retry_config {
    retry_count = 0
  }
}
