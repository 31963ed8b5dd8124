# One 2nd-gen function per manifest entry, built from build/<name>.zip (infra/package.py),
# each running as its own service account that holds only what the manifest says it uses.

locals {
  archives = { for name in keys(local.functions) : name => "${path.module}/../build/${name}.zip" }

  behind_load_balancer = var.entry_point == "load_balancer"

  # Without the load balancer, HTTP functions are reached on their own URLs.
  function_ingress = {
    for name, f in local.functions : name => (
      f.kind == "http" && !local.behind_load_balancer ? "ALLOW_ALL" : local.ingress_settings[f.ingress]
    )
  }

  # Proxies that append to X-Forwarded-For in front of a function. Google's front end
  # always appends the address it saw; the load balancer's makes the header end
  # "<client>, <load balancer>", so the client is the second entry from the end.
  trusted_proxy_hops = {
    for name, f in local.functions : name => (
      local.behind_load_balancer && f.ingress == "internal-and-gclb" ? 2 : 1
    )
  }

  # The value of every source a variable of the manifest's environment may name.
  environment_sources = {
    for name, f in local.functions : name => {
      deployment         = "cloud"
      project_id         = var.project_id
      function_name      = name
      firestore_database = google_firestore_database.main.name
      # Credential material's database, and what this function may do in each database
      # (the same map the IAM grants below follow; its clients enforce it too).
      credentials_database = google_firestore_database.credentials.name
      firestore_access     = jsonencode(f.firestore)
      log_level            = var.log_level
      trusted_proxy_hops   = tostring(local.trusted_proxy_hops[name])
      # The pinned Secret Manager versions the function reads (shared/secrets).
      secret_versions = jsonencode({ for secret in f.secrets : secret => lookup(var.secret_versions, secret, "") })
      # functions-framework's gunicorn serves this many requests at once per instance.
      concurrency = tostring(f.concurrency)
      # Webhooks never go to private addresses in the cloud (shared/webhooks/urls.py);
      # only the local stack allows its own webhook sink.
      webhook_private_hosts = "[]"
      # No mail provider is configured: send_mail logs each email's metadata and drops it.
      mail_transport_url = ""
      # Consumers accept a push only with an OIDC token signed for this account
      # (shared/events/push_auth.py), the one every push subscription signs as.
      push_invoker = google_service_account.push_invoker.email
      # Webhook signing secrets are sealed with this key (infra/kms.tf); only the
      # webhook functions hold a role on it.
      webhook_secrets_key = google_kms_crypto_key.webhook_secrets.id
    }
  }

  function_environment = {
    for name in keys(local.functions) : name => merge(var.function_environment, {
      for variable, source in local.manifest_environment : variable => local.environment_sources[name][source]
    })
  }
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

# Firestore access per database, as each function's manifest entry states it: read-only
# where the function never writes, none on the credentials database for the functions
# that neither verify nor issue credentials. Firestore's IAM conditions name a database
# by its resource name; nothing else is granted project-wide.
resource "google_project_iam_member" "function_datastore" {
  for_each = local.firestore_grants

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"

  condition {
    title       = "${each.value.database} database only"
    description = "Firestore access of ${each.value.function} to the ${each.value.database} database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_databases[each.value.database]}\""
  }

  # A changed grant is a new binding: add it before removing the old, never a gap.
  lifecycle {
    create_before_destroy = true
  }
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

# What the google provider's custom build service account example for 2nd-gen functions
# grants: write build logs, push the image, and read the source that Cloud Functions
# copies into its own gcf-v2-sources-<project number>-<region> bucket (which only
# exists after the first deployment, so it cannot be granted on the bucket itself).
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin"])

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.builder.email}"
}

# New IAM grants take a while to reach every Google service; a build started at once
# fails to read its source. The provider's example waits the same way.
resource "time_sleep" "builder_iam_propagation" {
  create_duration = "60s"

  triggers = {
    roles = join(",", sort([for grant in google_project_iam_member.builder : grant.role]))
  }

  depends_on = [google_project_iam_member.builder]
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
        # The uploaded object's own generation: a later overwrite cannot change what is built.
        generation = google_storage_bucket_object.source[each.key].generation
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
    ingress_settings                 = local.function_ingress[each.key]
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email

    # Secrets are not environment variables: the code reads Secret Manager at the
    # versions pinned in TRIBUTUM_SECRETS__VERSIONS (shared/secrets).
    environment_variables = local.function_environment[each.key]
  }

  labels = {
    function = each.value.deployed_name
  }

  lifecycle {
    # Cloud Functions adds LOG_EXECUTION_ID=true itself; the provider already suppresses
    # that diff, and this keeps it suppressed should the provider stop doing so.
    ignore_changes = [service_config[0].environment_variables["LOG_EXECUTION_ID"]]

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
    time_sleep.builder_iam_propagation,
    google_project_iam_member.function_datastore,
    google_secret_manager_secret_iam_member.function_accessor,
  ]
}

# run.invoker on the Cloud Run service behind each 2nd-gen function (named like the
# function). Functions marked invokers: public in the manifest serve the internet
# (allUsers) and authenticate every request themselves (JWT); no other gets allUsers.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoker_grants

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# The invoker grants were google_cloud_run_service_iam_member (Cloud Run v1 API) before
# they became the v2 resource above. Left to a plan, an environment applied before
# would destroy each old grant while creating its v2 twin: both rewrite the service's
# IAM policy, under different provider locks, so the destroy can drop the member the
# create has just added and revoke run.invoker until the next apply. Forgetting the
# old grants without destroying them leaves their bindings in place, and the v2
# resources adopt them (adding a member that is already bound changes nothing).
removed {
  from = google_cloud_run_service_iam_member.invoker

  lifecycle {
    destroy = false
  }
}
