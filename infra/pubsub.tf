# Topics, their dead-letter topics, and push subscriptions to the event functions.
# Background functions are fed by these push subscriptions rather than by an
# event_trigger, because Terraform cannot give the subscription an Eventarc
# trigger creates a dead-letter policy; the local stack's emulator pushes the same way.

locals {
  # Pub/Sub keeps unacknowledged messages at most this long; dead letters wait here for inspection.
  message_retention = "604800s"
}

data "google_project" "current" {
  project_id = var.project_id
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.current.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption at rest is the accepted baseline; a CMEK key ring is not provisioned for Tributum.
  for_each = local.topics

  name = each.key
  labels = {
    visibility = each.value.public ? "public" : "internal"
  }
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption at rest is the accepted baseline; a CMEK key ring is not provisioned for Tributum.
  for_each = local.topics

  name = each.value.dead_letter_topic
  labels = {
    dead_letter_of = each.key
  }
}

# The identity Pub/Sub presents (as an OIDC token) when it pushes to a function.
resource "google_service_account" "push_invoker" {
  account_id   = "pubsub-push-invoker"
  display_name = "Pub/Sub push to Tributum functions"
  description  = "Signs the OIDC tokens of push subscriptions; holds run.invoker on the event functions only."
}

# Projects created before April 2021 need this for Pub/Sub to mint the push tokens.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = local.message_retention

  push_config {
    # functions-framework reads the topic from this path when it builds the CloudEvent.
    push_endpoint = "${google_cloudfunctions2_function.function[each.value.function].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.minimum_backoff}s"
    maximum_backoff = "${each.value.maximum_backoff}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  # An idle subscription would otherwise be deleted after 31 days.
  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

# T-dlq-sub on every dead-letter topic: pushed to the function that consumes dead
# letters, or, when there is none, a pull subscription that keeps them for 7 days.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.topics

  name                       = each.value.dead_letter_subscription
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = local.default_retry.ack_deadline_seconds
  message_retention_duration = local.message_retention
  retain_acked_messages      = false

  dynamic "push_config" {
    for_each = local.dead_letter_consumers
    content {
      push_endpoint = "${google_cloudfunctions2_function.function[push_config.value].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.dead_letter_topic}"

      oidc_token {
        service_account_email = google_service_account.push_invoker.email
        audience              = google_cloudfunctions2_function.function[push_config.value].service_config[0].uri
      }
    }
  }

  dynamic "retry_policy" {
    for_each = local.dead_letter_consumers
    content {
      minimum_backoff = "${local.default_retry.minimum_backoff}s"
      maximum_backoff = "${local.default_retry.maximum_backoff}s"
    }
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

# Dead-lettering needs the Pub/Sub service agent to publish to the dead-letter
# topic and to acknowledge (subscribe on) the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.topics

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_subscriber" {
  for_each = local.push_subscriptions

  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Systems outside Tributum on the public topics. Publishers of requests are granted
# on the topic (a producer key in each message then binds it to one tenant: see
# docs/producers.md). Readers of results are never granted on a topic, which carries
# every tenant's messages: each gets a subscription filtered to one tenant's
# messages (tenant_subscriptions) and roles/pubsub.subscriber on that subscription
# only, which lets it pull and acknowledge but not change the filter.
locals {
  public_topic_grants = {
    for grant in flatten([
      for topic, members in var.public_topic_publishers : [
        for member in members : { role = "roles/pubsub.publisher", topic = topic, member = member }
      ]
    ]) : "${grant.role}|${grant.topic}|${grant.member}" => grant
  }

  tenant_subscription_grants = {
    for grant in flatten([
      for name, subscription in var.tenant_subscriptions : [
        for member in subscription.members : { subscription = name, member = member }
      ]
    ]) : "${grant.subscription}|${grant.member}" => grant
  }
}

resource "google_pubsub_topic_iam_member" "public" {
  for_each = local.public_topic_grants

  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = each.value.role
  member = each.value.member

  lifecycle {
    precondition {
      condition     = try(local.topics[each.value.topic].public, false)
      error_message = "${each.value.topic} is not a public topic of the manifest: outside members are granted on public topics only."
    }
  }
}

resource "google_pubsub_subscription" "tenant" {
  for_each = var.tenant_subscriptions

  name                       = "${each.value.topic}--tenant-${each.key}"
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = 60
  message_retention_duration = local.message_retention
  # Every result message carries its tenant as an attribute (the event envelope's).
  filter = "attributes.tenant_id = \"${each.value.tenant_id}\""

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = try(local.topics[each.value.topic].public, false)
      error_message = "${each.value.topic} is not a public topic of the manifest: tenant subscriptions are made on public topics only."
    }
  }
}

resource "google_pubsub_subscription_iam_member" "tenant" {
  for_each = local.tenant_subscription_grants

  subscription = google_pubsub_subscription.tenant[each.value.subscription].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}
