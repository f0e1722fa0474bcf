# Shared by plan.sh and apply.sh (sourced, never run): input checks and `terraform init` of one tenant.
# shellcheck shell=bash
# The inputs come from the environment (checked by `require`); the globals set here are read by the caller.
# shellcheck disable=SC2034,SC2153

die() {
  echo "${SCRIPT_NAME}: $*" >&2
  exit 1
}

# require NAME: the variable NAME must be set and non-empty.
require() {
  local name="$1"
  [[ -n "${!name:-}" ]] || die "${name} is required (see the header of ${SCRIPT_NAME})"
}

# check_inputs: the inputs both scripts share, checked before anything touches AWS.
check_inputs() {
  local name
  for name in TENANT_ID ENV REPO_DIR COMMIT STATE_BUCKET STATE_LOCK_TABLE ARTIFACTS_BUCKET ARTIFACTS_PREFIX; do
    require "${name}"
  done
  # The rule of the pipeline's tenant requests (bbws-domain is_tenant_id).
  [[ "${TENANT_ID}" =~ ^[a-z]([a-z0-9]|-[a-z0-9])*$ && ${#TENANT_ID} -le 40 ]] ||
    die "TENANT_ID '${TENANT_ID}' must be a tenant directory name: at most 40 lower-case letters, digits" \
      "and single inner '-', starting with a letter"
  [[ "${ENV}" =~ ^(dev|sit|prod)$ ]] || die "ENV '${ENV}' must be one of dev, sit, prod"
  [[ "${COMMIT}" =~ ^[0-9a-f]{40}$ ]] || die "COMMIT '${COMMIT}' must be a full 40-character commit SHA"
  local part='[A-Za-z0-9_=-][A-Za-z0-9._=-]*'
  [[ "${ARTIFACTS_PREFIX}" =~ ^${part}(/${part})*$ ]] ||
    die "ARTIFACTS_PREFIX '${ARTIFACTS_PREFIX}' must be an S3 key prefix: '/'-separated parts of" \
      "letters, digits, '.', '_', '=' and '-', none starting with '.', no leading or trailing '/'"

  TENANT_DIR="${REPO_DIR}/tenants/${TENANT_ID}"
  [[ -d "${TENANT_DIR}" ]] || die "tenant '${TENANT_ID}' has no directory tenants/${TENANT_ID} in ${REPO_DIR}"
  VAR_FILE="env/${ENV}.tfvars"
  [[ -f "${TENANT_DIR}/${VAR_FILE}" ]] || die "tenant '${TENANT_ID}' has no ${VAR_FILE} for ENV '${ENV}'"

  local head
  head="$(git -C "${REPO_DIR}" rev-parse HEAD)" || die "REPO_DIR ${REPO_DIR} is not a git checkout"
  [[ "${head}" == "${COMMIT}" ]] || die "REPO_DIR is at ${head}, not at COMMIT ${COMMIT}"
  [[ -z "$(git -C "${REPO_DIR}" status --porcelain --untracked-files=no)" ]] ||
    die "REPO_DIR has changes to tracked files: it must be exactly COMMIT ${COMMIT}"

  STATE_REGION="${STATE_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
  [[ -n "${STATE_REGION}" ]] || die "STATE_REGION (or AWS_REGION) is required: the state bucket's region"
  ARTIFACTS_URL="s3://${ARTIFACTS_BUCKET}/${ARTIFACTS_PREFIX}"
}

# tf_init: terraform init of the tenant's root with the S3 backend, one state per tenant, locked in DynamoDB.
tf_init() {
  local args=(
    -input=false
    -backend-config="bucket=${STATE_BUCKET}"
    -backend-config="key=tenants/${TENANT_ID}/terraform.tfstate"
    -backend-config="region=${STATE_REGION}"
    -backend-config="dynamodb_table=${STATE_LOCK_TABLE}"
    -backend-config="encrypt=true"
  )
  # The bucket's customer managed key, when given: without it the S3 backend asks for SSE-S3 on every
  # write, which overrides the bucket's default encryption.
  if [[ -n "${STATE_KMS_KEY_ID:-}" ]]; then
    args+=(-backend-config="kms_key_id=${STATE_KMS_KEY_ID}")
  fi
  # Machines that cannot reach the public registry keep the providers in a local mirror; elsewhere
  # (BBWS_TF_PLUGIN_DIR empty or not a directory) init downloads them as usual.
  local plugin_dir="${BBWS_TF_PLUGIN_DIR-/opt/tf-plugins}"
  if [[ -n "${plugin_dir}" && -d "${plugin_dir}" ]]; then
    args+=(-plugin-dir="${plugin_dir}")
  fi
  terraform -chdir="${TENANT_DIR}" init -no-color "${args[@]}"
}

sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
