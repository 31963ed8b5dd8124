# Webhook signing secrets are sealed with a Cloud KMS key (shared/secrets/sealing.py):
# Firestore has no per-collection IAM, so any function's identity could read the stored
# secrets; only the functions that create, rotate and sign with them may use this key.
# A key ring cannot be deleted, and the key keeps every version it ever had, so sealed
# secrets stay readable across rotations; a new version seals from then on.

locals {
  webhook_secret_functions = toset([
    for name in ["webhooks", "webhook_deliver"] : name if contains(keys(local.functions), name)
  ])
}

resource "google_kms_key_ring" "tributum" {
  name     = "tributum"
  location = var.region
}

resource "google_kms_crypto_key" "webhook_secrets" {
  name            = "webhook-secrets"
  key_ring        = google_kms_key_ring.tributum.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "webhook_secrets" {
  for_each = local.webhook_secret_functions

  crypto_key_id = google_kms_crypto_key.webhook_secrets.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_service_account.function[each.key].email}"
}
