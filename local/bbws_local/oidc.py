"""The estate as GitHub Actions' OIDC issuer, and STS's AssumeRoleWithWebIdentity as AWS decides it.

GitHub gives a job that has `permissions: id-token: write` two variables, ACTIONS_ID_TOKEN_REQUEST_URL
and ACTIONS_ID_TOKEN_REQUEST_TOKEN; `aws-actions/configure-aws-credentials` asks that URL (with the
request token as a bearer and `&audience=sts.amazonaws.com`) for an ID token, a JWT signed RS256 by
`https://token.actions.githubusercontent.com`, and gives it to `sts:AssumeRoleWithWebIdentity`. The
estate plays both parts:

- `POST /_local/github-oidc/jobs` registers a job's context (what GitHub knows of the run: repository,
  ref, environment, run id, actor, ...) and answers the pair of variables GitHub would set for it;
- `GET /_local/github-oidc/token?job=…&audience=…` with `Authorization: Bearer <request token>`
  answers `{"count": …, "value": <ID token>}` as GitHub's endpoint does: the claims GitHub sends (iss,
  aud, sub, repository, repository_owner, ref, sha, environment, run_id, run_attempt, actor, workflow,
  job_workflow_ref, ...), `sub` built as GitHub builds it (`repo:<owner>/<repo>:environment:<env>`
  for a job with an environment, else `repo:<owner>/<repo>:ref:<ref>`), valid for 5 minutes;
- `GET /_local/github-oidc/.well-known/openid-configuration` and `/.well-known/jwks` serve the
  issuer's discovery document and its public key (a new RSA key each time the estate starts);
- an `AssumeRoleWithWebIdentity` request is decided here before moto sees it: the token must be a JWT
  signed RS256 with the issuer's key, unexpired, its `iss` an IAM OIDC provider of the role's account
  (`arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com`) whose client ID list
  holds its `aud`, and the role's trust policy must allow `sts:AssumeRoleWithWebIdentity` to that
  provider as a `Federated` principal with the conditions on `<provider>:aud` and `<provider>:sub`
  and the GitHub claims IAM takes as keys (evaluated by @cloud-copilot/iam-simulate's engine,
  local/iam/web_identity.mjs). Anything else is refused
  with AWS's error (`InvalidIdentityToken`, `ExpiredTokenException`, `AccessDenied`); only then does
  moto make the session's credentials.

Never logged: a request token, an ID token, or any part of one but its claims' repository, sub and aud.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import secrets
import threading
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

LOG = logging.getLogger("bbws_local.oidc")

ISSUER = "https://token.actions.githubusercontent.com"
ISSUER_HOST = "token.actions.githubusercontent.com"
TOKEN_LIFETIME = 300  # seconds
CLOCK_SKEW = 60  # seconds either side that STS tolerates for nbf and exp
PREFIX = "/_local/github-oidc"

# What a job registration must say, and the rule for each.
_REQUIRED = ("repository", "run_id")
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JobError(ValueError):
    pass


class Issuer:
    """The RSA key, the registered jobs and the tokens' signing."""

    def __init__(self, endpoint: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.endpoint = endpoint
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self._n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        self._e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        self.kid = hashlib.sha256(self._n).hexdigest()[:40].upper()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- discovery ---------------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": _b64url(self._n), "e": _b64url(self._e)}]}

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "jwks_uri": f"{self.endpoint}{PREFIX}/.well-known/jwks",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
                                 "repository_id", "repository_owner", "repository_owner_id", "run_id",
                                 "run_number", "run_attempt", "actor", "actor_id", "workflow", "workflow_ref",
                                 "event_name", "ref_type", "environment", "job_workflow_ref",
                                 "repository_visibility", "runner_environment"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    # -- jobs and tokens ---------------------------------------------------------------------------
    def register(self, doc: Any) -> dict[str, str]:
        """A job's context -> the ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN pair GitHub would give it."""
        if not isinstance(doc, dict):
            raise JobError("body: a JSON object with the job's context is required")
        problems = []
        for f in _REQUIRED:
            if not isinstance(doc.get(f), (str, int)) or str(doc.get(f)) == "":
                problems.append(f"{f}: required")
        repo = str(doc.get("repository", ""))
        if repo and (repo.count("/") != 1 or not all(c in _NAME_OK for c in repo.replace("/", ""))):
            problems.append(f"repository: must be <owner>/<name>, got {repo[:80]!r}")
        for f in ("environment", "ref", "actor", "workflow", "event_name", "sha", "job_workflow_ref"):
            if f in doc and doc[f] is not None and not isinstance(doc[f], str):
                problems.append(f"{f}: must be a string")
        if problems:
            raise JobError("; ".join(problems))
        job_id = uuid.uuid4().hex
        request_token = secrets.token_urlsafe(32)
        with self._lock:
            self._jobs[job_id] = {"context": dict(doc), "request_token": request_token, "issued": 0}
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.endpoint}{PREFIX}/token?job={job_id}&api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token}

    def token_for(self, job_id: str, bearer: str, audience: str | None) -> str | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not secrets.compare_digest(job["request_token"], bearer):
                return None
            job["issued"] += 1
            ctx = dict(job["context"])
        return self.sign(self.claims(ctx, audience))

    @staticmethod
    def claims(ctx: dict[str, Any], audience: str | None) -> dict[str, Any]:
        repo = str(ctx["repository"])
        owner = repo.split("/", 1)[0]
        ref = str(ctx.get("ref") or "refs/heads/main")
        env = ctx.get("environment") or None
        event = str(ctx.get("event_name") or "workflow_dispatch")
        if env:
            sub = f"repo:{repo}:environment:{env}"
        elif event == "pull_request":
            sub = f"repo:{repo}:pull_request"
        else:
            sub = f"repo:{repo}:ref:{ref}"
        now = int(time.time())
        workflow_path = str(ctx.get("workflow_path") or ".github/workflows/promote.yml")
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "aud": audience or f"https://github.com/{owner}",
            "ref": ref,
            "sha": str(ctx.get("sha") or "0" * 40),
            "repository": repo,
            "repository_owner": owner,
            "repository_visibility": "private",
            "run_id": str(ctx["run_id"]),
            "run_number": str(ctx.get("run_number") or ctx["run_id"]),
            "run_attempt": str(ctx.get("run_attempt") or 1),
            "actor": str(ctx.get("actor") or "octocat"),
            "workflow": str(ctx.get("workflow") or "workflow"),
            "workflow_ref": f"{repo}/{workflow_path}@{ref}",
            "job_workflow_ref": str(ctx.get("job_workflow_ref") or f"{repo}/{workflow_path}@{ref}"),
            "event_name": event,
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "runner_environment": "github-hosted",
            "iss": ISSUER,
            "nbf": now - 5,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
        }
        if env:
            claims["environment"] = env
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(sig)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this issuer signed; raises StsError as STS answers a bad token."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = token.split(".")
        if len(parts) != 3:
            raise StsError("InvalidIdentityToken", "The ID token provided is not a valid JWT")
        try:
            header = json.loads(_unb64url(parts[0]))
            claims = json.loads(_unb64url(parts[1]))
            sig = _unb64url(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise StsError("InvalidIdentityToken", "The ID token provided is not a valid JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise StsError("InvalidIdentityToken", "The ID token provided is not a valid JWT")
        if header.get("alg") != "RS256":
            raise StsError("InvalidIdentityToken", f"Unsupported signing algorithm: {str(header.get('alg'))[:20]}")
        if header.get("kid") != self.kid:
            raise StsError("InvalidIdentityToken", "Couldn't retrieve verification key from your identity "
                                                   "provider, please reference AssumeRoleWithWebIdentity "
                                                   "documentation for requirements")
        try:
            self._key.public_key().verify(sig, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                                          hashes.SHA256())
        except InvalidSignature:
            raise StsError("InvalidIdentityToken", "The signature of the ID token is invalid") from None
        return claims


class StsError(Exception):
    def __init__(self, code: str, message: str, status: str = "400 Bad Request") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _provider(account: str, iss: str) -> Any:
    """The IAM OIDC provider of `account` for the issuer URL `iss`, or None."""
    from moto.iam.models import iam_backends

    url = iss[len("https://"):] if iss.startswith("https://") else iss
    arn = f"arn:aws:iam::{account}:oidc-provider/{url}"
    try:
        return iam_backends[account]["aws"].get_open_id_connect_provider(arn)
    except Exception:
        return None


def decide(issuer: Issuer, form: dict[str, str]) -> dict[str, Any]:
    """AssumeRoleWithWebIdentity's checks, in STS's order; the token's claims when they all pass."""
    role_arn = form.get("RoleArn", "")
    session = form.get("RoleSessionName", "")
    token = form.get("WebIdentityToken", "")
    missing = [f for f, v in (("RoleArn", role_arn), ("RoleSessionName", session), ("WebIdentityToken", token))
               if not v]
    if missing:
        raise StsError("ValidationError", f"1 validation error detected: Value null at '{missing[0]}' failed "
                                          f"to satisfy constraint: Member must not be null")
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        raise StsError("ValidationError", f"{role_arn[:100]} is invalid")
    account = parts[4]
    claims = issuer.verify(token)
    iss = str(claims.get("iss", ""))
    provider = _provider(account, iss)
    if provider is None:
        raise StsError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss[:200]}")
    now = time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, (int, float)) or now > exp + CLOCK_SKEW:
        raise StsError("ExpiredTokenException", "Token expired: current date/time must be before the "
                                                "expiration date/time")
    if isinstance(nbf, (int, float)) and now + CLOCK_SKEW < nbf:
        raise StsError("InvalidIdentityToken", "Token used before its nbf (not before) time")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    client_ids = list(getattr(provider, "client_id_list", []) or [])
    matched = next((a for a in auds if a in client_ids), None)
    if matched is None:
        raise StsError("InvalidIdentityToken", "Incorrect token audience")
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        role = None
    denied = StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                      "403 Forbidden")
    if role is None:
        raise denied
    duration = form.get("DurationSeconds")
    if duration is not None:
        limit = int(getattr(role, "max_session_duration", 3600) or 3600)
        if not duration.isdigit() or int(duration) < 900:
            raise StsError("ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to "
                                              "satisfy constraint: Member must have value greater than or equal to 900")
        if int(duration) > limit:
            raise StsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set "
                                              "for this role.")
    from urllib.parse import unquote

    trust = role.assume_role_policy_document
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    host = iss[len("https://"):]
    provider_arn = f"arn:aws:iam::{account}:oidc-provider/{host}"
    context = {f"{host}:aud": matched, f"{host}:sub": str(claims.get("sub", ""))}
    # The GitHub claims IAM also takes as condition keys of this provider.
    for claim in ("actor", "actor_id", "job_workflow_ref", "repository", "repository_id", "workflow", "ref",
                  "environment"):
        if isinstance(claims.get(claim), str):
            context[f"{host}:{claim}"] = claims[claim]
    answer = trust_decision(trust, provider_arn, role_arn, account, context)
    if answer.get("decision") != "Allowed":
        LOG.info("AssumeRoleWithWebIdentity refused: %s (sub %s, aud %s) -> %s", claims.get("repository"),
                 claims.get("sub"), matched, role_arn)
        raise denied
    LOG.info("AssumeRoleWithWebIdentity: %s (sub %s) -> %s", claims.get("repository"), claims.get("sub"), role_arn)
    return claims


def trust_decision(trust: Any, provider_arn: str, role_arn: str, account: str,
                   context: dict[str, str]) -> dict[str, Any]:
    """The role's trust policy decided by iam-simulate's engine (local/iam/web_identity.mjs)."""
    import shutil
    import subprocess
    from pathlib import Path

    from .iam import EvaluatorError

    node = shutil.which("node")
    script = Path(__file__).resolve().parents[1] / "iam" / "web_identity.mjs"
    if node is None:
        raise EvaluatorError("node is not installed: the estate's IAM evaluator needs Node.js (make npm)")
    req = {"trust": trust, "principal": provider_arn, "role_arn": role_arn, "account": account, "context": context}
    r = subprocess.run([node, str(script)], input=json.dumps(req), capture_output=True, text=True, timeout=30,
                       cwd=str(script.parents[2]))
    try:
        answer = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EvaluatorError(f"the web identity evaluator answered nothing ({r.stderr[-300:]})") from None
    if "error" in answer:
        raise EvaluatorError(str(answer["error"]))
    return answer


def is_web_identity(environ: dict[str, Any], body: bytes) -> dict[str, str] | None:
    """The form of an STS AssumeRoleWithWebIdentity request, or None for any other request."""
    if environ.get("REQUEST_METHOD") != "POST" or "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return None
    if b"AssumeRoleWithWebIdentity" not in body:
        return None
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
    return form if form.get("Action") == "AssumeRoleWithWebIdentity" else None


def error_response(e: StsError) -> tuple[str, bytes]:
    body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{e.code}</Code><Message>{html.escape(e.message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()
    return e.status, body


def handle_local(issuer: Issuer, path: str, environ: dict[str, Any], body: bytes,
                 respond: Callable[..., Iterable[bytes]]) -> Iterable[bytes]:
    """The /_local/github-oidc routes; `respond(status, body, ctype)`."""
    sub = path[len(PREFIX):]
    method = environ.get("REQUEST_METHOD", "GET")
    if sub == "/.well-known/openid-configuration" and method == "GET":
        return respond("200 OK", json.dumps(issuer.configuration()).encode(), "application/json")
    if sub == "/.well-known/jwks" and method == "GET":
        return respond("200 OK", json.dumps(issuer.jwks()).encode(), "application/json")
    if sub == "/jobs" and method == "POST":
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            doc = None
        try:
            return respond("200 OK", json.dumps(issuer.register(doc)).encode(), "application/json")
        except JobError as e:
            return respond("400 Bad Request", json.dumps({"message": str(e)}).encode(), "application/json")
    if sub == "/token" and method == "GET":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        auth = environ.get("HTTP_AUTHORIZATION", "")
        bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        value = issuer.token_for((query.get("job") or [""])[0], bearer, (query.get("audience") or [None])[0])
        if value is None:
            return respond("401 Unauthorized", b'{"message":"Bad credentials"}', "application/json")
        return respond("200 OK", json.dumps({"count": 2000, "value": value}).encode(), "application/json")
    return respond("404 Not Found", b'{"message":"no such local route"}', "application/json")
