//! Approval links: what a link carries (request, approver, role, decision, expiry) and its
//! HMAC-SHA-256 signature. The task token is never in a link; a link only names a request the
//! approval function keeps server-side.
//!
//! A token is `base64url(claims JSON) "." base64url(HMAC-SHA-256(key, claims JSON))`: URL-safe
//! (no `+`, `/` or `=`), and any change to any claim breaks the signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::approvals::Role;

type HmacSha256 = Hmac<Sha256>;

/// Keys shorter than this are refused: the signature is only as strong as the key.
pub const MIN_KEY_BYTES: usize = 32;
/// The longest request id a link may name, in bytes (the approvals table's key; ids the pipeline
/// makes are about 100 bytes). An empty one names nothing.
pub const MAX_REQUEST_ID_BYTES: usize = 512;

/// What the link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkDecision {
    /// Approve the request.
    Approve,
    /// Reject it (a reason is asked on the page).
    Reject,
}

impl LinkDecision {
    /// `approve` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkDecision::Approve => "approve",
            LinkDecision::Reject => "reject",
        }
    }
}

/// The signed content of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The approval request.
    #[serde(rename = "r")]
    pub request_id: String,
    /// The approver the link was sent to.
    #[serde(rename = "a")]
    pub approver: String,
    /// The role the approver answers in.
    #[serde(rename = "o")]
    pub role: Role,
    /// Approve or reject.
    #[serde(rename = "d")]
    pub decision: LinkDecision,
    /// Epoch seconds after which the link is refused.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Why a link is refused before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token of this shape.
    #[error("this link is damaged or incomplete")]
    Malformed,
    /// The signature does not match the content (forged or tampered).
    #[error("this link is not valid: its signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("this link has expired")]
    Expired,
    /// The key is too short to sign with.
    #[error("the signing key is shorter than {MIN_KEY_BYTES} bytes")]
    WeakKey,
}

fn mac(key: &[u8]) -> Result<HmacSha256, LinkError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(LinkError::WeakKey);
    }
    HmacSha256::new_from_slice(key).map_err(|_| LinkError::WeakKey)
}

/// Signs `claims` into a URL-safe token.
pub fn sign(claims: &LinkClaims, key: &[u8]) -> Result<String, LinkError> {
    let body = serde_json::to_vec(claims).map_err(|_| LinkError::Malformed)?;
    let mut m = mac(key)?;
    m.update(&body);
    let sig = m.finalize().into_bytes();
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(sig)
    ))
}

/// Checks a token's signature (in constant time) and expiry at `now` (epoch seconds).
pub fn verify(token: &str, key: &[u8], now: i64) -> Result<LinkClaims, LinkError> {
    let (body_b64, sig_b64) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let body = URL_SAFE_NO_PAD
        .decode(body_b64)
        .map_err(|_| LinkError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| LinkError::Malformed)?;
    let mut m = mac(key)?;
    m.update(&body);
    m.verify_slice(&sig).map_err(|_| LinkError::BadSignature)?;
    let claims: LinkClaims = serde_json::from_slice(&body).map_err(|_| LinkError::Malformed)?;
    if claims.request_id.is_empty() || claims.request_id.len() > MAX_REQUEST_ID_BYTES {
        return Err(LinkError::Malformed);
    }
    if now > claims.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn claims() -> LinkClaims {
        LinkClaims {
            request_id: "req-1".into(),
            approver: "tech-lead@bbws.io".into(),
            role: Role::TechLead,
            decision: LinkDecision::Approve,
            expires_at: 1_000,
        }
    }

    fn tamper(token: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
        let (body, sig) = token.split_once('.').expect("token");
        let mut v: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("b64")).expect("json");
        f(&mut v);
        let body = serde_json::to_vec(&v).expect("json");
        format!("{}.{sig}", URL_SAFE_NO_PAD.encode(body))
    }

    #[test]
    fn a_signed_link_verifies_until_its_expiry_and_not_after() {
        let t = sign(&claims(), KEY).expect("sign");
        assert!(!t.contains('+') && !t.contains('/') && !t.contains('='));
        assert_eq!(verify(&t, KEY, 1_000), Ok(claims()));
        assert_eq!(verify(&t, KEY, 1_001), Err(LinkError::Expired));
    }

    #[test]
    fn any_changed_claim_breaks_the_signature() {
        let t = sign(&claims(), KEY).expect("sign");
        let reject = tamper(&t, |v| v["d"] = "reject".into());
        let other = tamper(&t, |v| v["a"] = "ops-lead@bbws.io".into());
        let later = tamper(&t, |v| v["e"] = 9_999_999.into());
        let request = tamper(&t, |v| v["r"] = "req-2".into());
        for bad in [reject, other, later, request] {
            assert_eq!(verify(&bad, KEY, 0), Err(LinkError::BadSignature));
        }
    }

    #[test]
    fn another_key_or_a_mangled_token_is_refused() {
        let t = sign(&claims(), KEY).expect("sign");
        assert_eq!(
            verify(&t, b"another key that is long enough!!", 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(verify("nodot", KEY, 0), Err(LinkError::Malformed));
        assert_eq!(verify("!!.??", KEY, 0), Err(LinkError::Malformed));
        let (body, _) = t.split_once('.').expect("token");
        assert_eq!(
            verify(&format!("{body}.AAAA"), KEY, 0),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_signed_link_naming_no_request_or_an_oversized_one_is_malformed() {
        for id in [String::new(), "r".repeat(MAX_REQUEST_ID_BYTES + 1)] {
            let c = LinkClaims {
                request_id: id,
                ..claims()
            };
            let t = sign(&c, KEY).expect("sign");
            assert_eq!(verify(&t, KEY, 0), Err(LinkError::Malformed));
        }
        let longest = LinkClaims {
            request_id: "r".repeat(MAX_REQUEST_ID_BYTES),
            ..claims()
        };
        let t = sign(&longest, KEY).expect("sign");
        assert_eq!(verify(&t, KEY, 0), Ok(longest));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(sign(&claims(), b"short"), Err(LinkError::WeakKey));
    }
}
