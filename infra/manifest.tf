# Everything per function, topic, subscription and secret is derived here from the
# one topology manifest (functions/manifest.yaml, schema in shared/topology.py).
# yamldecode does not apply the schema's defaults, so each optional field is read
# with try(..., <default>) using the same default as shared/topology.py; the infra
# tests evaluate these locals and compare them with the validated manifest.
#
# Derived names (the same rules as shared/topology.py):
#   dead-letter topic of T:            T-dlq
#   subscription on a dead-letter:     T-dlq-sub
#   push subscription of consumer F:   T--F

locals {
  manifest = yamldecode(file("${path.module}/../functions/manifest.yaml"))
  runtime  = local.manifest.runtime

  labels = {
    app         = "tributum"
    environment = var.environment
  }

  # Cloud Run (which runs 2nd-gen functions) and service account ids refuse underscores.
  account_bases = { for f in local.manifest.functions : f.name => "fn-${replace(f.name, "_", "-")}" }

  functions = {
    for f in local.manifest.functions : f.name => {
      name          = f.name
      kind          = f.kind
      description   = f.description
      deployed_name = replace(f.name, "_", "-")
      # Service account ids have 6-30 characters: long names keep a prefix and a stable hash.
      service_account_id = (
        length(local.account_bases[f.name]) > 30
        ? "${substr(local.account_bases[f.name], 0, 21)}-${substr(sha1(f.name), 0, 8)}"
        : length(local.account_bases[f.name]) < 6 ? "${local.account_bases[f.name]}-sa" : local.account_bases[f.name]
      )
      entry_point = try(f.entry_point, "handle")
      routes = [
        for r in try(f.routes, []) : {
          method = r.method
          path   = r.path
          auth   = try(r.auth, "token")
        }
      ]
      consumes = [
        for c in try(f.consumes, []) : {
          topic                 = c.topic
          max_delivery_attempts = try(c.retry.max_delivery_attempts, 5)
          minimum_backoff       = try(c.retry.minimum_backoff_seconds, 10)
          maximum_backoff       = try(c.retry.maximum_backoff_seconds, 600)
          ack_deadline_seconds  = try(c.retry.ack_deadline_seconds, 90)
        }
      ]
      consumes_dead_letters = try(f.consumes_dead_letters, false)
      publishes             = try(f.publishes, [])
      secrets               = try(f.secrets, [])
      memory                = try(f.scaling.memory, "256Mi")
      cpu                   = tostring(try(f.scaling.cpu, "1"))
      timeout_seconds       = try(f.scaling.timeout_seconds, 60)
      min_instances         = try(f.scaling.min_instances, 0)
      max_instances         = try(f.scaling.max_instances, 10)
      concurrency           = try(f.scaling.concurrency, 8)
      ingress               = try(f.ingress, "all")
      invokers              = try(f.invokers, "private")
      # What the function may do in each Firestore database (infra/firestore.tf).
      firestore = {
        main        = try(f.firestore.main, "write")
        credentials = try(f.firestore.credentials, "none")
      }
    }
  }

  # One grant per function and database it may reach: roles/datastore.viewer to read,
  # roles/datastore.user to write, each conditioned on that database.
  firestore_grants = merge([
    for name, f in local.functions : {
      for database, access in f.firestore : "${name}/${database}" => {
        function = name
        database = database
        role     = access == "read" ? "roles/datastore.viewer" : "roles/datastore.user"
      } if access != "none"
    }
  ]...)

  http_functions = { for name, f in local.functions : name => f if f.kind == "http" }

  # Functions that Pub/Sub pushes to: consumers of a topic and the dead-letter consumer.
  push_targets = {
    for name, f in local.functions : name => f
    if length(f.consumes) > 0 || f.consumes_dead_letters
  }

  dead_letter_consumers = [for name, f in local.functions : name if f.consumes_dead_letters]

  # The defaults shared/topology.py's RetryPolicy uses, for the T-dlq-sub push subscriptions.
  default_retry = {
    minimum_backoff      = 10
    maximum_backoff      = 600
    ack_deadline_seconds = 90
  }

  topics = {
    for t in local.manifest.topics : t.name => {
      name                     = t.name
      description              = t.description
      public                   = try(t.public, false)
      dead_letter_topic        = "${t.name}-dlq"
      dead_letter_subscription = "${t.name}-dlq-sub"
    }
  }

  scheduled_topics = {
    for t in local.manifest.topics : t.name => {
      cron      = t.schedule.cron
      time_zone = try(t.schedule.time_zone, "Etc/UTC")
    }
    if try(t.schedule, null) != null
  }

  secrets = {
    for s in try(local.manifest.secrets, []) : s.name => {
      description = s.description
    }
  }

  # The manifest's environment: variable name -> the source of its value (functions.tf
  # supplies every source). Absent in a manifest that declares none.
  manifest_environment = try(local.manifest.environment, {})

  # Set by Cloud Run and the functions buildpack themselves (shared/topology.py's
  # PLATFORM_VARIABLES): neither the manifest nor function_environment may name them.
  platform_environment_variables = [
    "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION",
    "FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE", "FUNCTION_SOURCE", "LOG_EXECUTION_ID",
  ]
  reserved_environment_variables = concat(keys(local.manifest_environment), local.platform_environment_variables)

  # One push subscription T--F per (consumed topic, consumer).
  push_subscriptions = {
    for s in flatten([
      for name, f in local.functions : [
        for c in f.consumes : merge(c, { function = name, name = "${c.topic}--${name}" })
      ]
    ]) : s.name => s
  }

  # IAM grants keyed "<function>|<resource>": keys stay known at plan time.
  topic_publishers = {
    for grant in flatten([
      for name, f in local.functions : [for topic in f.publishes : { function = name, topic = topic }]
    ]) : "${grant.function}|${grant.topic}" => grant
  }

  secret_accessors = {
    for grant in flatten([
      for name, f in local.functions : [for secret in f.secrets : { function = name, secret = secret }]
    ]) : "${grant.function}|${grant.secret}" => grant
  }

  # run.invoker: on HTTP functions, allUsers when public, else the configured callers;
  # on every function Pub/Sub pushes to, the push invoker (and nobody else for event ones).
  invoker_grants = merge(
    {
      for grant in flatten([
        for name, f in local.http_functions : [
          for member in(f.invokers == "public" ? ["allUsers"] : var.private_invokers) : {
            function = name
            member   = member
          }
        ]
      ]) : "${grant.function}|${grant.member}" => grant
    },
    {
      for name, f in local.push_targets : "${name}|pubsub-push" => {
        function = name
        member   = "serviceAccount:${google_service_account.push_invoker.email}"
      }
    },
  )

  ingress_settings = {
    "all"               = "ALLOW_ALL"
    "internal"          = "ALLOW_INTERNAL_ONLY"
    "internal-and-gclb" = "ALLOW_INTERNAL_AND_GCLB"
  }
}
