# One Secret Manager secret per manifest entry. Values are added out of band
# (`gcloud secrets versions add`) and pinned per environment in secret_versions;
# each function is granted accessor on exactly the secrets it lists (functions.tf).

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  secret_id = each.key
  annotations = {
    description = each.value.description
  }

  replication {
    auto {}
  }
}
