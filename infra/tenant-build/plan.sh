#!/usr/bin/env bash
# Plan one tenant's Terraform in one environment and publish the plan for review (RB-003 §3.2.4, §4.3.4).
#
# Inputs (environment):
#   TENANT_ID          tenant directory under tenants/ (e.g. tenant-001)
#   ENV                dev, sit or prod: selects env/<ENV>.tfvars
#   REPO_DIR           the 2_bbws_tenants_instances_dev checkout, at COMMIT (default: .)
#   COMMIT             the full SHA REPO_DIR must be at; recorded in the summary
#   STATE_BUCKET       S3 bucket of the Terraform state (key tenants/<TENANT_ID>/terraform.tfstate)
#   STATE_LOCK_TABLE   DynamoDB table of the state lock
#   STATE_REGION       region of the state bucket and table (default: AWS_REGION)
#   STATE_KMS_KEY_ID   optional: the KMS key the state is written with (the state bucket's key; default:
#                      the S3 backend's SSE-S3)
#   ARTIFACTS_BUCKET   S3 bucket the plan is published to
#   ARTIFACTS_PREFIX   key prefix of this plan (e.g. tenants/tenant-001/dev/<run id>)
#   TF_LOCK_TIMEOUT    how long to wait for a state lock held by another run (default: 0s, fail at once)
#
# Publishes to s3://ARTIFACTS_BUCKET/ARTIFACTS_PREFIX/: tfplan (the saved plan `apply.sh` applies),
# plan.json (`terraform show -json tfplan`) and plan-summary.json (tenant, env, commit, the commit's author
# and subject, the SHA-256 of tfplan and of plan.json, and the count of resource changes by action). The
# approval names the tfplan SHA-256; apply.sh refuses any other bytes.
#
# Exit status: 0 when the plan was published (with or without changes), non-zero otherwise.
set -euo pipefail

SCRIPT_NAME="plan.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO_DIR="${REPO_DIR:-.}"
check_inputs
# Who made the change and what it says it does, for the people who approve the plan.
COMMIT_AUTHOR="$(git -C "${REPO_DIR}" log -1 --format='%an <%ae>' "${COMMIT}")"
COMMIT_SUBJECT="$(git -C "${REPO_DIR}" log -1 --format='%s' "${COMMIT}")"

tf_init

rm -f "${TENANT_DIR}/tfplan" "${TENANT_DIR}/plan.json" "${TENANT_DIR}/plan-summary.json"
terraform -chdir="${TENANT_DIR}" plan -no-color -input=false -lock-timeout="${TF_LOCK_TIMEOUT:-0s}" \
  -var-file="${VAR_FILE}" -out=tfplan
terraform -chdir="${TENANT_DIR}" show -json tfplan >"${TENANT_DIR}/plan.json"

TFPLAN_SHA256="$(sha256_of "${TENANT_DIR}/tfplan")"
PLAN_JSON_SHA256="$(sha256_of "${TENANT_DIR}/plan.json")"

# Actions per resource: ["create"], ["update"], ["delete"], ["delete","create"] (replace), ["no-op"]...
jq --arg tenant "${TENANT_ID}" --arg env "${ENV}" --arg commit "${COMMIT}" \
  --arg author "${COMMIT_AUTHOR}" --arg subject "${COMMIT_SUBJECT}" \
  --arg tfplan "${TFPLAN_SHA256}" --arg plan_json "${PLAN_JSON_SHA256}" '{
    tenant_id: $tenant,
    env: $env,
    commit: $commit,
    commit_author: $author,
    commit_subject: $subject,
    tfplan_sha256: $tfplan,
    plan_json_sha256: $plan_json,
    terraform_version: .terraform_version,
    changes: ([.resource_changes[]? | .change.actions | join("+")] | map(select(. != "no-op" and . != "read"))
              | group_by(.) | map({key: .[0], value: length}) | from_entries)
  }' "${TENANT_DIR}/plan.json" >"${TENANT_DIR}/plan-summary.json"

aws s3 cp --only-show-errors --recursive --exclude '*' \
  --include tfplan --include plan.json --include plan-summary.json "${TENANT_DIR}" "${ARTIFACTS_URL}"

echo "plan of ${TENANT_ID} in ${ENV} at ${COMMIT}: ${ARTIFACTS_URL}/tfplan sha256 ${TFPLAN_SHA256}"
cat "${TENANT_DIR}/plan-summary.json"
