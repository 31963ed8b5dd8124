project_id         = "tributum-dev"
region             = "europe-west1"
environment        = "dev"
firestore_location = "eur3"
domains            = ["api.dev.tributum.dev"]
tf_state_bucket    = "tributum-dev-tfstate"
log_level          = "DEBUG"

# Pinned version number of every secret the manifest declares (see infra/README.md).
secret_versions = {
  "jwt-signing-keys"      = "1"
  "jwt-verification-keys" = "1"
  "audit-chain-keys"      = "1"
}

# Extra TRIBUTUM_* settings for every function, e.g. CORS origins (never one of the
# manifest's environment, which Terraform sets from functions/manifest.yaml).
function_environment = {}
