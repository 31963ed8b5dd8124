# One 2nd-gen function per manifest entry, built from build/<name>.zip (infra/package.py),
# each running as its own service account that holds only what the manifest says it uses.

locals {
  archives = { for name in keys(local.functions) : name => "${path.module}/../build/${name}.zip" }
}

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62:Holds only build inputs that are also in git; data-access audit logs cover reads, a second log bucket would add nothing.
  name                        = "${var.project_id}-function-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Archives are named by content hash; superseded ones are only kept for a rollback window.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  # The content hash in the name makes a changed archive a new object, which redeploys the function.
  name         = "${each.key}/${filesha256(local.archives[each.key])}.zip"
  bucket       = google_storage_bucket.sources.name
  source       = local.archives[each.key]
  content_type = "application/zip"
}

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = each.value.service_account_id
  display_name = "Tributum function ${each.key}"
  description  = "Runtime identity of the ${each.key} function."
}

# Every function reads and writes Firestore; nothing else is granted project-wide.
resource "google_project_iam_member" "function_datastore" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.topic_publishers

  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "function_accessor" {
  for_each = local.secret_accessors

  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Builds run as their own account rather than the project's default compute account.
resource "google_service_account" "builder" {
  account_id   = "function-builder"
  display_name = "Tributum function builds"
  description  = "Cloud Build identity that turns the source archives into function images."
}

# What a function build needs: write its logs, push the image, read the source archive.
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_storage_bucket_iam_member" "builder_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_cloudfunctions2_function" "function" {
  # checkov:skip=CKV_GCP_124:Ingress is declared per function in functions/manifest.yaml (the infra tests check it is applied); public HTTP functions authenticate every request themselves.
  for_each = local.functions

  name        = each.value.deployed_name
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = local.runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = local.ingress_settings[each.value.ingress]
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email

    environment_variables = merge(var.function_environment, {
      TRIBUTUM_ENV                = "cloud"
      TRIBUTUM_PROJECT_ID         = var.project_id
      TRIBUTUM_FUNCTION_NAME      = each.key
      TRIBUTUM_FIRESTORE_DATABASE = google_firestore_database.main.name
      TRIBUTUM_LOG_LEVEL          = var.log_level
      # Behind the load balancer, X-Forwarded-For ends "<client>, <load balancer>": the
      # client is the second entry from the end. Direct traffic has only the client's.
      TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS = each.value.ingress == "internal-and-gclb" ? "2" : "1"
      # The pinned versions, for code that reads Secret Manager itself.
      TRIBUTUM_SECRETS__VERSIONS = jsonencode({
        for secret in each.value.secrets : secret => lookup(var.secret_versions, secret, "")
      })
      # functions-framework's gunicorn serves this many requests at once per instance.
      THREADS = tostring(each.value.concurrency)
    })

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = local.secrets[secret_environment_variables.value].env_var
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "")
      }
    }
  }

  labels = {
    function = each.value.deployed_name
  }

  lifecycle {
    precondition {
      condition     = alltrue([for secret in each.value.secrets : contains(keys(var.secret_versions), secret)])
      error_message = "Function ${each.key} uses secrets without a pinned version in secret_versions."
    }
    precondition {
      condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", each.value.deployed_name))
      error_message = "Function ${each.key} does not make a valid Cloud Run service name."
    }
  }

  depends_on = [
    google_project_iam_member.builder,
    google_storage_bucket_iam_member.builder_sources,
    google_project_iam_member.function_datastore,
    google_secret_manager_secret_iam_member.function_accessor,
  ]
}

resource "google_cloud_run_service_iam_member" "invoker" {
  # checkov:skip=CKV_GCP_102:Functions marked invokers: public in the manifest serve the internet; they authenticate requests themselves (JWT), the rest are never public.
  for_each = local.invoker_grants

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}
