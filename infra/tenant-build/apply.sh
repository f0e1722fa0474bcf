#!/usr/bin/env bash
# Apply one tenant's reviewed and approved plan, exactly as published by plan.sh (RB-003 §3.2.4, §4.3.4).
#
# Inputs (environment): TENANT_ID, ENV, REPO_DIR, COMMIT, STATE_BUCKET, STATE_LOCK_TABLE, STATE_REGION,
# STATE_KMS_KEY_ID, ARTIFACTS_BUCKET, ARTIFACTS_PREFIX, TF_LOCK_TIMEOUT as for plan.sh (the same values as
# the plan's run), and
#   EXPECTED_TFPLAN_SHA256   the SHA-256 of the tfplan that was reviewed and approved
#
# Downloads s3://ARTIFACTS_BUCKET/ARTIFACTS_PREFIX/{tfplan,plan-summary.json} (s3:ListBucket on that
# prefix, s3:GetObject) and refuses (exit 1, nothing applied) unless the tfplan's SHA-256 is
# EXPECTED_TFPLAN_SHA256 and the plan-summary.json beside it records that SHA-256 for this TENANT_ID, ENV
# and COMMIT. Then `terraform apply tfplan`: never a new plan. Terraform itself refuses a
# saved plan made against a state that has changed since ("Saved plan is stale").
set -euo pipefail

SCRIPT_NAME="apply.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO_DIR="${REPO_DIR:-.}"
check_inputs
require EXPECTED_TFPLAN_SHA256
[[ "${EXPECTED_TFPLAN_SHA256}" =~ ^[0-9a-f]{64}$ ]] ||
  die "EXPECTED_TFPLAN_SHA256 '${EXPECTED_TFPLAN_SHA256}' must be 64 lower-case hex digits"

rm -f "${TENANT_DIR}/tfplan" "${TENANT_DIR}/plan-summary.json"
# The plan and its summary in one copy (one start of the AWS CLI), which lists ARTIFACTS_PREFIX; a copy
# that finds neither succeeds, so each file's absence is an error of its own.
aws s3 cp --only-show-errors --recursive --exclude '*' --include tfplan --include plan-summary.json \
  "${ARTIFACTS_URL}/" "${TENANT_DIR}/"
for f in tfplan plan-summary.json; do
  [[ -f "${TENANT_DIR}/${f}" ]] || die "there is no ${ARTIFACTS_URL}/${f}: nothing to apply"
done
ACTUAL="$(sha256_of "${TENANT_DIR}/tfplan")"
if [[ "${ACTUAL}" != "${EXPECTED_TFPLAN_SHA256}" ]]; then
  rm -f "${TENANT_DIR}/tfplan"
  die "refusing to apply ${ARTIFACTS_URL}/tfplan: its SHA-256 is ${ACTUAL}," \
    "the approved plan's is ${EXPECTED_TFPLAN_SHA256}"
fi

# The approved plan must be this tenant's, in this environment, at this commit (as plan.sh recorded it).
jq -e --arg tenant "${TENANT_ID}" --arg env "${ENV}" --arg commit "${COMMIT}" --arg sha "${ACTUAL}" \
  '.tenant_id == $tenant and .env == $env and .commit == $commit and .tfplan_sha256 == $sha' \
  "${TENANT_DIR}/plan-summary.json" >/dev/null ||
  die "refusing to apply ${ARTIFACTS_URL}/tfplan: its plan-summary.json is for $(jq -r \
    '"tenant \(.tenant_id), env \(.env), commit \(.commit), tfplan \(.tfplan_sha256)"' \
    "${TENANT_DIR}/plan-summary.json"), not for TENANT_ID ${TENANT_ID}, ENV ${ENV}, COMMIT ${COMMIT}"
echo "${ARTIFACTS_URL}/tfplan is the approved plan of ${TENANT_ID} in ${ENV} at ${COMMIT} (sha256 ${ACTUAL})"

tf_init
terraform -chdir="${TENANT_DIR}" apply -no-color -input=false -lock-timeout="${TF_LOCK_TIMEOUT:-0s}" tfplan
