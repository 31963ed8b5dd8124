# The Cloud Armor policy of the API backends (cloud_armor_enabled, on by default):
# preconfigured WAF rules, a rate-based ban on the public credential endpoints, and
# allow for everything else. Only the load balancer can carry it.
#
# Cloud Armor applies the first rule (lowest priority number) that matches, and a
# rate-based rule's conform_action allows what stays under the rate: every deny rule
# must come before it, or credential requests would skip the WAF. Priorities:
# cve-canary 900, WAF rule sets from 1000, credential rate ban 2000, default last.
#
# The credential endpoints are the manifest's public POST routes (token, refresh,
# signup, password reset, email verification, invitation acceptance): each attempt costs an argon2 hash or sends an email, and
# they are what a password-guessing or account-spraying client hammers. Rate limits key on the client address the
# load balancer saw.

locals {
  cloud_armor_count = local.behind_load_balancer && var.cloud_armor_enabled ? 1 : 0

  credential_paths = sort(distinct(flatten([
    for f in values(local.http_functions) : [
      for r in f.routes : r.path if r.auth == "public" && r.method == "POST"
    ]
  ])))
  # One regular expression (a rule allows few subexpressions); {params} match a segment.
  credential_path_pattern = "^(${join("|", [for path in local.credential_paths : replace(path, "/\\{[a-z_]+\\}/", "[^/]+")])})$"

  # OWASP CRS 3.3 rule sets that fit a JSON API. methodenforcement is left out: at
  # every sensitivity it refuses PATCH, which the API uses.
  waf_rule_sets = [
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rfi-v33-stable",
    "rce-v33-stable",
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
    "sessionfixation-v33-stable",
  ]
}

resource "google_compute_security_policy" "api" {
  # checkov:skip=CKV_GCP_73:The cve-canary (Log4j) deny rule is below at priority 900 and the infra tests assert it; checkov drops static rule blocks that sit beside dynamic ones, so it never sees it.
  count = local.cloud_armor_count

  name        = "tributum-api"
  description = "Tributum API: credential endpoint rate ban, preconfigured WAF rules."
  type        = "CLOUD_ARMOR"

  # Request bodies are JSON: parse them, so WAF signatures see values, not syntax.
  advanced_options_config {
    json_parsing = "STANDARD"
    log_level    = "NORMAL"
  }

  # Log4j message lookups (CVE-2021-44228).
  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4j JNDI lookups."

    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  dynamic "rule" {
    for_each = local.waf_rule_sets
    content {
      action      = "deny(403)"
      priority    = 1000 + rule.key
      description = "Preconfigured WAF rule set ${rule.value}."

      match {
        expr {
          expression = "evaluatePreconfiguredWaf('${rule.value}', {'sensitivity': ${var.waf_sensitivity}})"
        }
      }
    }
  }

  dynamic "rule" {
    for_each = length(local.credential_paths) > 0 ? [local.credential_path_pattern] : []
    content {
      action = "rate_based_ban"
      # After every deny rule: under the rate this rule allows, and evaluation stops.
      priority    = 2000
      description = "Ban a client address that exceeds the credential endpoints' rate."

      match {
        expr {
          expression = "request.method == 'POST' && request.path.matches('${rule.value}')"
        }
      }

      rate_limit_options {
        conform_action   = "allow"
        exceed_action    = "deny(429)"
        enforce_on_key   = "IP"
        ban_duration_sec = var.credential_ban_seconds

        rate_limit_threshold {
          count        = var.credential_requests_per_minute
          interval_sec = 60
        }

        # Banned once it keeps exceeding the rate by as much again within the minute.
        ban_threshold {
          count        = var.credential_requests_per_minute
          interval_sec = 60
        }
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything no rule above refused."

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
