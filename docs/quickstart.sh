#!/usr/bin/env bash
# The README's quickstart, runnable as it stands against a started local stack (`make up`):
# a new tenant and its owner, a token, two accounts, a balanced entry, the balances.
# Needs only curl and python3. TRIBUTUM_URL points it elsewhere (default: the gateway).
set -euo pipefail

BASE="${TRIBUTUM_URL:-http://localhost:8080}"
EMAIL="ada-$(date +%s)-$RANDOM@example.com"   # emails are unique system-wide
PASSWORD="violet kayak ledger 42"

# call METHOD PATH [JSON BODY] [extra curl args...]: the response body; fails on a 4xx/5xx.
call() {
  local method=$1 path=$2 body=${3:-}
  shift $(($# < 3 ? $# : 3))
  curl -sS --fail-with-body -X "$method" "$BASE$path" \
    -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} \
    ${body:+-d "$body"} "$@"
}
# field PATH: one value of the JSON on stdin, e.g. `field data.id`.
field() {
  python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[int(key)] if key.isdigit() else value[key]
print(value)' "$1"
}

call GET /v1/health/ready | field data.status

TENANT=$(call POST /v1/signup \
  "{\"email\": \"$EMAIL\", \"password\": \"$PASSWORD\", \"name\": \"Ada\"}" | field data.tenant_id)
echo "tenant: $TENANT (owner $EMAIL)"
TOKEN=$(call POST /v1/auth/token "{\"email\": \"$EMAIL\", \"password\": \"$PASSWORD\"}" \
  | field data.access_token)

CASH=$(call POST /v1/accounts \
  '{"code": "1000-cash", "name": "Cash", "type": "asset", "currency": "EUR"}' | field data.id)
EQUITY=$(call POST /v1/accounts \
  '{"code": "3000-equity", "name": "Equity", "type": "equity", "currency": "EUR"}' | field data.id)
REVENUE=$(call POST /v1/accounts \
  '{"code": "4000-revenue", "name": "Revenue", "type": "revenue", "currency": "EUR"}' | field data.id)
echo "accounts: cash $CASH, equity $EQUITY, revenue $REVENUE"

# A money-moving POST takes an Idempotency-Key: resending it never posts twice.
call POST /v1/journal-entries "{\"description\": \"capital\", \"lines\": [
    {\"account_id\": \"$CASH\", \"side\": \"debit\", \"amount\": \"100.00\"},
    {\"account_id\": \"$EQUITY\", \"side\": \"credit\", \"amount\": \"100.00\"}]}" \
  -H "Idempotency-Key: capital-$CASH" | field data.id | sed 's/^/entry: /'

echo "cash posted: $(call GET "/v1/accounts/$CASH" | field data.balances.posted)"
echo "trial balance balanced: $(call GET /v1/ledger/trial-balance | field data.balanced)"

# For the next steps in a shell: eval "$(bash docs/quickstart.sh | grep '^export ')"
echo "export TOKEN=$TOKEN TRIBUTUM_TENANT_ID=$TENANT"
echo "export CASH_ACCOUNT_ID=$CASH EQUITY_ACCOUNT_ID=$EQUITY REVENUE_ACCOUNT_ID=$REVENUE"
