# The Firestore databases, their TTL fields, composite indexes (firestore_indexes.yaml)
# and daily backups. Two databases: `main` holds the books; `credentials` holds credential
# material (users and password hashes, sessions, revocations, key hashes, single-use
# tokens), so IAM can keep it from the functions that neither verify nor issue credentials
# (infra/functions.tf grants each function what its manifest entry's `firestore` says).

locals {
  firestore_config = yamldecode(file("${path.module}/firestore_indexes.yaml"))

  firestore_databases = {
    main        = google_firestore_database.main.name
    credentials = google_firestore_database.credentials.name
  }

  ttl_fields = {
    # Keys of the main database's entries carry no prefix (they predate the second database).
    for f in local.firestore_config.ttl_fields : "${try(f.database, "main") == "main" ? "" : "${f.database}/"}${f.collection_group}.${f.field}" => {
      database         = try(f.database, "main")
      collection_group = f.collection_group
      field            = f.field
      indexed          = try(f.indexed, false)
    }
  }

  composite_index_list = [
    for index in local.firestore_config.composite_indexes : {
      database         = try(index.database, "main")
      collection_group = index.collection_group
      query_scope      = try(index.query_scope, "COLLECTION")
      fields = [
        for f in index.fields : {
          field        = f.field
          order        = try(f.order, null)
          array_config = try(f.array_config, null)
        }
      ]
    }
  ]

  # Keyed by what defines an index, e.g. "entries|COLLECTION|account_id:ASCENDING|effective_date:ASCENDING",
  # prefixed by the database's name outside the main one ("credentials|user_invitations|...").
  composite_indexes = {
    for index in local.composite_index_list : join("|", concat(
      index.database == "main" ? [] : [index.database],
      [index.collection_group, index.query_scope],
      [for f in index.fields : "${f.field}:${f.order != null ? f.order : f.array_config}"],
    )) => index
  }
}

resource "google_firestore_database" "main" {
  name        = var.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"
  # Production databases default to optimistic concurrency; the code is written for it.
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` forgets the database instead of deleting the ledger.
  deletion_policy = "ABANDON"
}

# Credential material apart from the books: the same settings, its own IAM grants.
resource "google_firestore_database" "credentials" {
  name                              = var.credentials_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  database   = local.firestore_databases[each.value.database]
  collection = each.value.collection_group
  field      = each.value.field

  ttl_config {}

  # An empty index_config removes the field's single-field indexes.
  dynamic "index_config" {
    for_each = each.value.indexed ? [] : ["unindexed"]
    content {}
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  database    = local.firestore_databases[each.value.database]
  collection  = each.value.collection_group
  query_scope = each.value.query_scope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.field
      order        = fields.value.order
      array_config = fields.value.array_config
    }
  }
}

# Daily backups besides point-in-time recovery (which reaches back 7 days, in place):
# a backup survives a deleted or corrupted database and restores into a new one.
resource "google_firestore_backup_schedule" "daily" {
  for_each = local.firestore_databases

  database  = each.value
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}

moved {
  from = google_firestore_backup_schedule.daily
  to   = google_firestore_backup_schedule.daily["main"]
}
