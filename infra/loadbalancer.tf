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
#
# With entry_point = "function_urls" none of this exists (every resource here has a
# count or for_each of zero) and clients call the functions' own URLs.

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

locals {
  load_balancer_count     = local.behind_load_balancer ? 1 : 0
  load_balanced_functions = { for name, f in local.http_functions : name => f if local.behind_load_balancer }

  # One managed certificate per list of host names, keyed and named by a hash of the
  # sorted list: var.domains, and var.previous_domains while a change of domains waits
  # for the new certificate to become ACTIVE (infra/README.md). The previous list
  # comes first, so the certificate known to be ACTIVE is the proxy's primary one.
  certificate_lists = [
    for domains in [var.previous_domains, var.domains] :
    { key = substr(sha256(join(",", sort(domains))), 0, 10), domains = domains } if length(domains) > 0
  ]
  certificates = { for c in local.certificate_lists : c.key => c.domains if local.behind_load_balancer }
}

resource "google_compute_global_address" "api" {
  count = local.load_balancer_count

  name = "tributum-api"
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.load_balanced_functions

  name                  = "neg-${each.value.deployed_name}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # A 2nd-gen function is a Cloud Run service of the function's name: the NEG takes
  # that short name (a cloud_function block is for 1st-gen functions).
  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.load_balanced_functions

  name                  = "be-${each.value.deployed_name}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.cloud_armor_enabled ? google_compute_security_policy.api[0].id : null

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  count = local.load_balancer_count

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

# A managed certificate's domains cannot change in place: a new list of domains is a
# new certificate, and one that is still PROVISIONING serves nobody. A certificate
# keeps its key (the hash of its domains) while previous_domains holds its list, so
# the HTTPS proxy serves the old one until the new one is ACTIVE (infra/README.md).
resource "google_compute_managed_ssl_certificate" "api" {
  for_each = local.certificates

  name = "tributum-api-${each.key}"

  managed {
    domains = each.value
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_ssl_policy" "api" {
  count = local.load_balancer_count

  name            = "tributum-api"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "api" {
  count = local.load_balancer_count

  name             = "tributum-api"
  url_map          = google_compute_url_map.api[0].id
  ssl_certificates = [for c in local.certificate_lists : google_compute_managed_ssl_certificate.api[c.key].id]
  ssl_policy       = google_compute_ssl_policy.api[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.load_balancer_count

  name                  = "tributum-api-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api[0].id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "https_redirect" {
  count = local.load_balancer_count

  name = "tributum-api-https-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "https_redirect" {
  count = local.load_balancer_count

  name    = "tributum-api-https-redirect"
  url_map = google_compute_url_map.https_redirect[0].id
}

resource "google_compute_global_forwarding_rule" "http" {
  count = local.load_balancer_count

  name                  = "tributum-api-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api[0].id
  port_range            = "80"
  target                = google_compute_target_http_proxy.https_redirect[0].id
}
