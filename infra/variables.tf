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
  description = "Extra TRIBUTUM_* settings for every function (e.g. TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS); the fixed ones win."
  type        = map(string)
  default     = {}
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

variable "security_policy" {
  description = "Optional Cloud Armor security policy id attached to every API backend."
  type        = string
  default     = null
}
