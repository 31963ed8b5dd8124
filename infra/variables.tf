variable "project_id" {
  description = "Google Cloud project that holds one environment of Tributum."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the functions, the serverless NEGs, the source bucket and the scheduler jobs."
  type        = string
}

variable "environment" {
  description = "Environment name; labels every resource and names the state prefix."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "firestore_database" {
  description = "Firestore database id the functions use (TRIBUTUM_FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"
}

variable "credentials_database" {
  description = "Firestore database id of credential material (TRIBUTUM_FIRESTORE__CREDENTIALS_DATABASE): users, password hashes, sessions, revocations, key hashes, single-use tokens."
  type        = string
  default     = "credentials"

  validation {
    condition     = var.credentials_database != var.firestore_database
    error_message = "credentials_database must differ from firestore_database: credentials live in a database of their own."
  }
}

variable "firestore_location" {
  description = "Firestore location (a multi-region such as eur3 / nam5, or a region)."
  type        = string
}

variable "secret_versions" {
  description = "Pinned Secret Manager version number per secret name; every secret a function uses needs one."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for version in values(var.secret_versions) : can(regex("^[1-9][0-9]*$", version))])
    error_message = "secret_versions must pin numeric versions (\"latest\" would change under a running function)."
  }
}

variable "domains" {
  description = "Host names the API load balancer serves (a Google-managed certificate covers them)."
  type        = list(string)

  validation {
    condition     = length(var.domains) > 0
    error_message = "domains needs at least one host name for the managed certificate."
  }
}

variable "previous_domains" {
  description = "Host names of the certificate the API served before a change of domains, kept (and served) until the certificate of domains is ACTIVE; empty otherwise (infra/README.md)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.previous_domains) == 0 || sort(var.previous_domains) != sort(var.domains)
    error_message = "previous_domains is the list of host names before a change of domains: it must differ from domains (or be empty)."
  }
}

variable "default_route_function" {
  description = "HTTP function that answers paths no route matches (its router returns a problem+json 404)."
  type        = string
  default     = "health"
}

variable "private_invokers" {
  description = "IAM members (e.g. serviceAccount:gateway@...) allowed to invoke functions whose manifest says invokers: private."
  type        = list(string)
  default     = []
}

variable "function_environment" {
  description = "Extra TRIBUTUM_* settings for every function (e.g. TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS), besides the manifest's environment."
  type        = map(string)
  default     = {}

  # The manifest's `environment` and the platform own their names: an operator's value
  # would silently lose to (or override) them. Secrets come from Secret Manager only:
  # no secret value in the environment, no switch to the local secrets backend.
  validation {
    condition = alltrue([
      for name in keys(var.function_environment) :
      !contains(local.reserved_environment_variables, name) && !startswith(name, "TRIBUTUM_SECRET_") && name != "TRIBUTUM_SECRETS__BACKEND"
    ])
    error_message = "function_environment must not set a variable of the manifest's environment, one the platform sets (PORT, K_SERVICE, K_REVISION, K_CONFIGURATION, FUNCTION_TARGET, FUNCTION_SIGNATURE_TYPE, FUNCTION_SOURCE, LOG_EXECUTION_ID), a TRIBUTUM_SECRET_* value or TRIBUTUM_SECRETS__BACKEND (secrets are read from Secret Manager)."
  }
}

variable "log_level" {
  description = "TRIBUTUM_LOG_LEVEL of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "notification_channels" {
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) every alert notifies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", id))])
    error_message = "notification_channels holds channel ids of the form projects/P/notificationChannels/N."
  }
}

variable "alert_email" {
  description = "E-mail address that every alert notifies through a channel this module creates (null: none)."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an e-mail address."
  }
}

variable "error_ratio_threshold" {
  description = "Share of a function's requests answered 5xx, over five minutes, that raises an alert."
  type        = number
  default     = 0.05

  validation {
    condition     = var.error_ratio_threshold > 0 && var.error_ratio_threshold < 1
    error_message = "error_ratio_threshold is a fraction between 0 and 1."
  }
}

variable "dead_letter_backlog_threshold" {
  description = "Undelivered messages on a dead-letter subscription above which an alert fires."
  type        = number
  default     = 0
}

variable "entry_point" {
  description = "How clients reach the HTTP functions: through the API load balancer (\"load_balancer\") or on their own function URLs (\"function_urls\", no load balancer is created)."
  type        = string
  default     = "load_balancer"

  validation {
    condition     = contains(["load_balancer", "function_urls"], var.entry_point)
    error_message = "entry_point must be load_balancer or function_urls."
  }
}

variable "cloud_armor_enabled" {
  description = "Attach the Cloud Armor policy (credential endpoint rate ban, preconfigured WAF rules) to every API backend."
  type        = bool
  default     = true
}

variable "waf_sensitivity" {
  description = "Sensitivity of the preconfigured WAF rules (1 blocks the surest attacks only; 4 also suspicious requests, with more false positives)."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 2, 3, 4], var.waf_sensitivity)
    error_message = "waf_sensitivity is 1, 2, 3 or 4."
  }
}

variable "credential_requests_per_minute" {
  description = "POST requests per minute one client address may send to the public credential endpoints (token, refresh, signup) before Cloud Armor bans it."
  type        = number
  default     = 30

  validation {
    condition     = var.credential_requests_per_minute >= 1 && floor(var.credential_requests_per_minute) == var.credential_requests_per_minute
    error_message = "credential_requests_per_minute is a positive whole number."
  }
}

variable "credential_ban_seconds" {
  description = "How long Cloud Armor bans a client address that exceeded credential_requests_per_minute."
  type        = number
  default     = 600

  validation {
    condition     = var.credential_ban_seconds >= 60 && var.credential_ban_seconds <= 86400
    error_message = "credential_ban_seconds is between 60 and 86400."
  }
}

variable "firestore_backup_retention_days" {
  description = "Days each daily Firestore backup is kept (Firestore keeps daily backups at most 7 days)."
  type        = number
  default     = 7

  validation {
    condition     = var.firestore_backup_retention_days >= 1 && var.firestore_backup_retention_days <= 7 && floor(var.firestore_backup_retention_days) == var.firestore_backup_retention_days
    error_message = "firestore_backup_retention_days is a whole number from 1 to 7."
  }
}

variable "public_topic_publishers" {
  description = "Members outside Tributum that may publish to a public topic, by topic name (e.g. { \"ledger-posting-requests\" = [\"serviceAccount:erp@partner.iam.gserviceaccount.com\"] })."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue(flatten([for members in values(var.public_topic_publishers) : [for member in members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):.+$", member))]]))
    error_message = "public_topic_publishers holds IAM members (serviceAccount:..., group:..., principal:...); allUsers and allAuthenticatedUsers are refused."
  }
}

variable "tenant_subscriptions" {
  description = "Subscriptions on public outbound topics for systems outside Tributum, each filtered to one tenant's messages, by short name: { topic, tenant_id, members }. The members get roles/pubsub.subscriber on that subscription only, never on the topic, which carries every tenant's messages (e.g. { billing-acme = { topic = \"ledger-posting-results\", tenant_id = \"t_123\", members = [\"serviceAccount:erp@partner.iam.gserviceaccount.com\"] } })."
  type = map(object({
    topic     = string
    tenant_id = string
    members   = list(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.tenant_subscriptions) : can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", name))])
    error_message = "tenant_subscriptions are named with 3-40 lowercase letters, digits and hyphens (the name becomes part of the subscription's)."
  }

  validation {
    condition     = alltrue([for s in values(var.tenant_subscriptions) : can(regex("^[A-Za-z0-9_-]{1,128}$", s.tenant_id))])
    error_message = "tenant_subscriptions' tenant_id is a tenant id: letters, digits, '_' and '-' only (it is quoted into the subscription filter)."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.tenant_subscriptions) : [for member in s.members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):.+$", member))]]))
    error_message = "tenant_subscriptions' members are IAM members (serviceAccount:..., group:..., principal:...); allUsers and allAuthenticatedUsers are refused."
  }
}

variable "tf_state_bucket" {
  description = "Bucket of this environment's Terraform state (the one in environments/<env>.gcs.tfbackend); the build accounts are granted on it."
  type        = string
}

variable "build_repository" {
  description = "Cloud Build (2nd gen) repository the build triggers watch, projects/P/locations/R/connections/C/repositories/N; null creates no triggers."
  type        = string
  default     = null

  validation {
    condition     = var.build_repository == null || can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.build_repository))
    error_message = "build_repository is a Cloud Build repository id: projects/P/locations/R/connections/C/repositories/N."
  }
}

variable "audit_witness_retention_days" {
  description = "How long the locked audit-witness log bucket keeps each audit head witness. The lock makes it impossible to shorten later, so choose the legal retention of your books (e.g. 3650)."
  type        = number
  default     = 400

  validation {
    condition     = var.audit_witness_retention_days >= 30 && var.audit_witness_retention_days <= 3650
    error_message = "audit_witness_retention_days is between 30 and 3650 (Cloud Logging's limits)."
  }
}
