# The identities and triggers of Cloud Build (cloudbuild.yaml). Two service accounts:
#
# * tributum-planner runs the builds of every branch but main: tests, packaging and
#   `terraform plan`. It can read the metadata of what the module manages (to refresh
#   it) and the state, and change nothing, so a branch cannot deploy whatever its
#   cloudbuild.yaml says. It reads no data either: no Firestore document, log entry,
#   secret value or message, since any branch's build runs as it.
# * tributum-deployer runs the builds of main, whose last step applies the plan. It
#   holds the roles the module needs to create and change every resource here.
#
# The triggers exist once build_repository names the repository of a Cloud Build
# (2nd gen) connection, which is set up by hand (infra/README.md). A trigger lives in
# var.region and can only watch a repository of a connection in that region.

locals {
  deployer_roles = toset([
    "roles/cloudfunctions.admin",
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/pubsub.admin",
    "roles/datastore.owner",
    "roles/secretmanager.admin",
    "roles/cloudkms.admin",
    "roles/cloudscheduler.admin",
    "roles/compute.loadBalancerAdmin",
    "roles/compute.publicIpAdmin",
    "roles/compute.securityAdmin",
    "roles/storage.admin",
    "roles/logging.configWriter",
    "roles/logging.logWriter",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/cloudbuild.builds.editor",
    "roles/cloudbuild.connectionViewer",
    "roles/iam.roleAdmin",
    "roles/serviceusage.serviceUsageConsumer",
  ])

  # Viewer roles of the services the module uses, none of which reads data.
  # roles/viewer and roles/iam.securityReviewer are not among them: both include
  # logging.logEntries.list and datastore.entities.list.
  planner_roles = toset([
    "roles/cloudfunctions.viewer",
    "roles/run.viewer",
    "roles/pubsub.viewer",
    "roles/secretmanager.viewer",
    "roles/cloudkms.viewer",
    "roles/cloudscheduler.viewer",
    "roles/compute.viewer",
    "roles/monitoring.viewer",
    "roles/iam.serviceAccountViewer",
    "roles/cloudbuild.builds.viewer",
    "roles/logging.logWriter",
    "roles/serviceusage.serviceUsageConsumer",
  ])

  # What a refresh reads that no predefined viewer role grants without data: Firestore
  # metadata (datastore.schemas.* are the index and field permissions, formerly
  # datastore.indexes.*), log-based metrics, bucket metadata, and the IAM policies
  # of the project, topics, subscriptions, buckets and the webhook secrets' key.
  planner_metadata_permissions = [
    "datastore.databases.getMetadata",
    "datastore.schemas.get",
    "datastore.schemas.list",
    "datastore.backupSchedules.get",
    "datastore.backupSchedules.list",
    "logging.logMetrics.get",
    "logging.logMetrics.list",
    "storage.buckets.get",
    "storage.buckets.getIamPolicy",
    "resourcemanager.projects.getIamPolicy",
    "pubsub.topics.getIamPolicy",
    "pubsub.subscriptions.getIamPolicy",
    "cloudkms.cryptoKeys.getIamPolicy",
    "iam.roles.get",
  ]

  # Service accounts the deployer deploys or signs as: functions run as theirs and are
  # built as the builder, push subscriptions sign as the push invoker, and the triggers
  # run builds as the planner and as the deployer itself.
  deployer_acts_as = merge(
    { for name, account in google_service_account.function : "function-${name}" => account.name },
    {
      builder      = google_service_account.builder.name
      push-invoker = google_service_account.push_invoker.name
      planner      = google_service_account.planner.name
      deployer     = google_service_account.deployer.name
    },
  )

  # R of projects/P/locations/R/connections/C/repositories/N.
  build_repository_region = var.build_repository == null ? null : split("/", var.build_repository)[3]

  build_substitutions = {
    _ENV             = var.environment
    _REGION          = var.region
    _TF_STATE_BUCKET = var.tf_state_bucket
  }
}

resource "google_service_account" "deployer" {
  account_id   = "tributum-deployer"
  display_name = "Tributum deployments"
  description  = "Cloud Build identity of main-branch builds: applies the Terraform plan."
}

resource "google_service_account" "planner" {
  account_id   = "tributum-planner"
  display_name = "Tributum plans"
  description  = "Cloud Build identity of branch builds: tests and terraform plan, read-only."
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_49:The deployer creates the service accounts of the module (serviceAccountAdmin) and the build triggers that run as them (cloudbuild.builds.editor); it is used by main-branch builds only.
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# actAs on exactly the accounts it deploys as, rather than on every account of the project.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = local.deployer_acts_as

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_project_iam_member" "planner" {
  for_each = local.planner_roles

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.planner.email}"
}

resource "google_project_iam_custom_role" "planner_metadata" {
  role_id     = "tributumPlannerMetadata"
  title       = "Tributum plan refresh"
  description = "Metadata a terraform plan of Tributum refreshes beyond the predefined viewer roles; no data."
  permissions = local.planner_metadata_permissions

  # The deployer may only create custom roles once its roleAdmin grant has reached IAM.
  depends_on = [time_sleep.deployer_iam_propagation]
}

resource "google_project_iam_member" "planner_metadata" {
  project = var.project_id
  role    = google_project_iam_custom_role.planner_metadata.id
  member  = "serviceAccount:${google_service_account.planner.email}"
}

# An environment applied before the deployer held roles/iam.roleAdmin gets that grant
# and the custom role above in one apply; IAM takes a while to honour a new grant.
resource "time_sleep" "deployer_iam_propagation" {
  create_duration = "60s"

  triggers = {
    roles = join(",", sort([for grant in google_project_iam_member.deployer : grant.role]))
  }

  depends_on = [google_project_iam_member.deployer]
}

# Plans run with -lock=false, so reading the state is all they need of its bucket;
# the deployer's roles/storage.admin covers reading, writing and locking it. Object
# reads are granted on these two buckets only, never project-wide.
resource "google_storage_bucket_iam_member" "planner_state" {
  bucket = var.tf_state_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.planner.email}"
}

# Refreshing the uploaded archives reads their objects.
resource "google_storage_bucket_iam_member" "planner_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.planner.email}"
}

resource "google_cloudbuild_trigger" "plan" {
  count = var.build_repository == null ? 0 : 1

  name            = "tributum-${var.environment}-plan"
  location        = var.region
  description     = "Every branch but main: checks, tests, packaging and terraform plan, read-only."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.planner.id

  repository_event_config {
    repository = var.build_repository
    push {
      branch       = "^main$"
      invert_regex = true
    }
  }

  substitutions = merge(local.build_substitutions, { _DEPLOY = "false" })

  lifecycle {
    precondition {
      condition     = local.build_repository_region == var.region
      error_message = "build_repository is in a connection of ${local.build_repository_region}; the triggers are created in region ${var.region}, which must be the same."
    }
  }
}

resource "google_cloudbuild_trigger" "deploy" {
  count = var.build_repository == null ? 0 : 1

  name            = "tributum-${var.environment}-deploy"
  location        = var.region
  description     = "main: checks, tests, packaging, terraform plan, then apply of that plan."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.deployer.id

  repository_event_config {
    repository = var.build_repository
    push {
      branch = "^main$"
    }
  }

  substitutions = merge(local.build_substitutions, { _DEPLOY = "true" })

  lifecycle {
    precondition {
      condition     = local.build_repository_region == var.region
      error_message = "build_repository is in a connection of ${local.build_repository_region}; the triggers are created in region ${var.region}, which must be the same."
    }
  }
}
