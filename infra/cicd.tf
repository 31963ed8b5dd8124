# The identities and triggers of Cloud Build (cloudbuild.yaml). Two service accounts:
#
# * tributum-planner runs the builds of every branch but main: tests, packaging and
#   `terraform plan`. It can read the project and the state, and change nothing, so a
#   branch cannot deploy whatever its cloudbuild.yaml says.
# * tributum-deployer runs the builds of main, whose last step applies the plan. It
#   holds the roles the module needs to create and change every resource here.
#
# The triggers exist once build_repository names the repository of a Cloud Build
# (2nd gen) connection, which is set up by hand (infra/README.md).

locals {
  deployer_roles = toset([
    "roles/cloudfunctions.admin",
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/pubsub.admin",
    "roles/datastore.owner",
    "roles/secretmanager.admin",
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
    "roles/serviceusage.serviceUsageConsumer",
  ])

  planner_roles = toset([
    "roles/viewer",
    "roles/iam.securityReviewer",
    "roles/logging.logWriter",
    "roles/serviceusage.serviceUsageConsumer",
  ])

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

# securityReviewer adds reading the IAM policies that a plan refreshes.
resource "google_project_iam_member" "planner" {
  # checkov:skip=CKV_GCP_117:The planner must read every kind of resource the module manages and nothing else; roles/viewer is the read-only role that spans them all and carries no write permission.
  for_each = local.planner_roles

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.planner.email}"
}

# Plans run with -lock=false, so reading the state is all they need of its bucket;
# the deployer's roles/storage.admin covers reading, writing and locking it.
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
}
