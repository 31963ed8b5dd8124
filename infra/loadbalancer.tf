# The public API: a global external Application Load Balancer with one serverless
# NEG and backend per HTTP function, and a URL map generated from the manifest routes.
#
# Each route path becomes a path template with its {params} as `*` wildcards. A
# template owned by one function is routed whole, so that function also answers
# OPTIONS, HEAD and 405s for it; a template several functions share (by method) is
# split with a `:method` match per route, then falls back to its first owner.
# Templates are ordered so that a literal segment wins over a wildcard in the same
# place (/v1/users/me before /v1/users/*). Unmatched paths go to
# var.default_route_function, whose router answers a problem+json 404.

locals {
  routes = flatten([
    for name, f in local.http_functions : [
      for r in f.routes : {
        function = name
        method   = r.method
        path     = r.path
        template = replace(r.path, "/\\{[a-z_]+\\}/", "*")
      }
    ]
  ])

  # Rank: "!" marks a literal segment and "~" a wildcard, so literals sort first.
  route_templates_by_rank = {
    for template in distinct([for r in local.routes : r.template]) :
    join("/", [for segment in split("/", template) : segment == "*" ? "~" : "!${segment}"]) => template
  }
  route_templates = [for rank in sort(keys(local.route_templates_by_rank)) : local.route_templates_by_rank[rank]]

  route_template_owners = {
    for template in local.route_templates :
    template => sort(distinct([for r in local.routes : r.function if r.template == template]))
  }

  url_map_rules = flatten([
    for template in local.route_templates : concat(
      [
        for r in local.routes : { template = template, function = r.function, method = r.method }
        if r.template == template && length(local.route_template_owners[template]) > 1
      ],
      [{ template = template, function = local.route_template_owners[template][0], method = "" }],
    )
  ])
}

resource "google_compute_global_address" "api" {
  name = "tributum-api"
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.http_functions

  name                  = "neg-${each.value.deployed_name}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].service_config[0].service
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.http_functions

  name                  = "be-${each.value.deployed_name}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.security_policy

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  name            = "tributum-api"
  default_service = google_compute_backend_service.function[var.default_route_function].id

  host_rule {
    hosts        = ["*"]
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = google_compute_backend_service.function[var.default_route_function].id

    dynamic "route_rules" {
      for_each = local.url_map_rules
      content {
        priority = route_rules.key + 1
        service  = google_compute_backend_service.function[route_rules.value.function].id

        match_rules {
          path_template_match = route_rules.value.template

          dynamic "header_matches" {
            for_each = [for method in [route_rules.value.method] : method if method != ""]
            content {
              header_name = ":method"
              exact_match = header_matches.value
            }
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.http_functions), var.default_route_function)
      error_message = "default_route_function must name an HTTP function of the manifest."
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  name = "tributum-api"

  managed {
    domains = var.domains
  }
}

resource "google_compute_ssl_policy" "api" {
  name            = "tributum-api"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "api" {
  name             = "tributum-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.api.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "tributum-api-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "https_redirect" {
  name = "tributum-api-https-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "https_redirect" {
  name    = "tributum-api-https-redirect"
  url_map = google_compute_url_map.https_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "tributum-api-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.https_redirect.id
}
