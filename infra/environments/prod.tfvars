project_id         = "tributum-prod"
region             = "europe-west1"
environment        = "prod"
firestore_location = "eur3"
domains            = ["api.tributum.dev"]
tf_state_bucket    = "tributum-prod-tfstate"
log_level          = "INFO"

# Pinned version number of every secret the manifest declares (see infra/README.md).
secret_versions = {
  "jwt-signing-keys"      = "1"
  "jwt-verification-keys" = "1"
  "audit-chain-keys"      = "1"
}

# Extra TRIBUTUM_* settings for every function, e.g. CORS origins (never one of the
# manifest's environment, which Terraform sets from functions/manifest.yaml).
function_environment = {}

error_ratio_threshold = 0.02
