output "api_ip_address" {
  description = "Address to point the API domains' A records at (null with entry_point = function_urls)."
  value       = one(google_compute_global_address.api[*].address)
}

output "function_urls" {
  description = "Direct URL of every function, by manifest name (the API's entry with entry_point = function_urls)."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri }
}

output "function_service_accounts" {
  description = "Runtime service account of every function, by manifest name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "push_invoker_service_account" {
  description = "Identity in the OIDC tokens of every push subscription."
  value       = google_service_account.push_invoker.email
}

output "firestore_database" {
  description = "Firestore database id of the books."
  value       = google_firestore_database.main.name
}

output "credentials_database" {
  description = "Firestore database id of credential material."
  value       = google_firestore_database.credentials.name
}
