# The Firestore database, its TTL fields, composite indexes (firestore_indexes.yaml) and daily backups.

locals {
  firestore_config = yamldecode(file("${path.module}/firestore_indexes.yaml"))

  ttl_fields = {
    for f in local.firestore_config.ttl_fields : "${f.collection_group}.${f.field}" => {
      collection_group = f.collection_group
      field            = f.field
      indexed          = try(f.indexed, false)
    }
  }

  composite_index_list = [
    for index in local.firestore_config.composite_indexes : {
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

  # Keyed by what defines an index, e.g. "entries|COLLECTION|account_id:ASCENDING|effective_date:ASCENDING".
  composite_indexes = {
    for index in local.composite_index_list : join("|", concat(
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

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  database   = google_firestore_database.main.name
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

  database    = google_firestore_database.main.name
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
  database  = google_firestore_database.main.name
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}
