terraform {
  # 1.9: variable validations refer to the manifest (function_environment).
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Exact: a provider upgrade is a reviewed change of this line, never a side effect of init.
      version = "= 6.50.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "= 0.12.1"
    }
  }

  # Partial configuration: the bucket and prefix come from
  # `terraform init -backend-config=environments/<env>.gcs.tfbackend`.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}
