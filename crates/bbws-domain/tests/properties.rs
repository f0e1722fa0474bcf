//! Property tests over every parser of outside input: promotion, release and rollback requests,
//! version references, environments, times of day, backup aliases, email addresses, approval link
//! tokens and the deployed configuration.
//!
//! For any input: no panic; a refusal names the field and the rule, and stays short enough for a
//! Step Functions cause whatever the input's size; valid inputs are accepted and round-trip.
//! Case counts are chosen so the whole file runs in a few seconds in release mode; set
//! `PROPTEST_CASES` to run more of every property.

mod common;
use common::cases;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bbws_domain::errors::{
    shorten, FieldError, MAX_FIELD_CHARS, MAX_LISTED_ERRORS, MAX_RULE_CHARS,
};
use bbws_domain::links::{sign, verify, LinkClaims, LinkDecision, LinkError, MAX_REQUEST_ID_BYTES};
use bbws_domain::naming::{backup_alias, parse_backup_alias};
use bbws_domain::release::RELEASE_FIELDS;
use bbws_domain::request::{looks_like_email, REQUEST_FIELDS};
use bbws_domain::rollback::ROLLBACK_FIELDS;
use bbws_domain::{
    validate_request, Catalog, Config, ConfigError, Env, InvalidRequest, ReleaseRequest, Role,
    RollbackRequest, RollbackTarget, TimeOfDay, VersionRef,
};
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sha2::Sha256;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-property-tests";

/// The longest one-line refusal: ten problems at their longest, and the count of the rest.
const MAX_MESSAGE_CHARS: usize =
    MAX_LISTED_ERRORS * (MAX_FIELD_CHARS + 2 + MAX_RULE_CHARS + 2) + 40;

// ------------------------------------------------------------------------------------------------
// Strategies
// ------------------------------------------------------------------------------------------------

/// Text as callers send it: anything, near misses of the valid values, and the odd huge one.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => any::<String>(),
        20 => "[a-z0-9@._ -]{0,20}",
        10 => prop::sample::select(vec![
            "", " ", "dev", "sit", "prod", "PROD", "tenant-instance-management", "site-management",
            "ecs-event-handler", "CHG-1", "CHG-", "INC-42", "inc-42", "7", "0", "007", "10000",
            "latest-dev", "backup-20260125-103045", "backup-20261325-103045", "jane@bbws.io",
            "<script>alert(1)</script>", "\u{0}", "é", "24:00", "25:00",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..100_000).prop_map(|n| "<x>".repeat(n)),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ]
}

/// Keys: mostly the fields the parsers know, so objects often have the right fields.
fn key() -> impl Strategy<Value = String> {
    let mut known: Vec<&'static str> = Vec::new();
    known.extend(REQUEST_FIELDS);
    known.extend(RELEASE_FIELDS);
    known.extend(ROLLBACK_FIELDS);
    known.extend(["incident", "execution_arn", "phase"]);
    prop_oneof![
        3 => prop::sample::select(known).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object of the known fields (each with any value), sometimes with other keys too.
fn request_like() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..12)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Any input a caller could start an execution with, including the shapes callers get wrong.
fn any_input() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => request_like(),
        2 => json_value(),
        1 => (1usize..60).prop_map(nested),
        1 => (1usize..3000).prop_map(wide),
    ]
}

/// An object `depth` levels deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, _| json!({ "service": inner }))
}

/// An object with `n` unknown fields, each with a long value (a few hundred KB in all).
fn wide(n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| {
                (
                    format!("field-{i}-{}", "k".repeat(i % 50)),
                    json!("v".repeat(40)),
                )
            })
            .collect(),
    )
}

fn email() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._+-]{0,20}[a-z0-9]@[a-z][a-z0-9-]{0,10}[a-z0-9]\\.(io|com|co\\.za|org)"
        .prop_filter("no double dot", |e| !e.contains(".."))
}

fn reason() -> impl Strategy<Value = String> {
    "[ -~]{0,40}[!-~][ -~]{0,40}"
}

fn ticket(prefix: &'static str) -> impl Strategy<Value = String> {
    "[0-9]{1,12}".prop_map(move |d| format!("{prefix}{d}"))
}

fn alias() -> impl Strategy<Value = String> {
    "[A-Za-z_-][A-Za-z0-9_-]{0,127}"
}

fn service() -> impl Strategy<Value = String> {
    let names: Vec<String> = Catalog::runbook()
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    prop::sample::select(names)
}

/// A promotion request that follows every rule.
fn valid_request() -> impl Strategy<Value = Value> {
    (
        service(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            (1u32..=9999).prop_map(|n| Some(json!(n))),
            (1u32..=9999).prop_map(|n| Some(json!(n.to_string()))),
            alias().prop_map(|a| Some(json!(a))),
        ],
        email(),
        reason(),
        prop::option::of(ticket("CHG-")),
        ticket("CHG-"),
        prop::option::of(ticket("INC-")),
        any::<bool>(),
    )
        .prop_map(
            |(service, prod, version, by, reason, chg, prod_chg, incident, skip)| {
                let (source, target) = if prod {
                    ("sit", "prod")
                } else {
                    ("dev", "sit")
                };
                let mut r = json!({"service": service, "source_env": source, "target_env": target,
                                   "requested_by": by, "reason": reason});
                if let Some(v) = version {
                    r["version"] = v;
                }
                match (prod, chg) {
                    (true, _) => r["change_request"] = json!(prod_chg),
                    (false, Some(c)) => r["change_request"] = json!(c),
                    (false, None) => {}
                }
                if let Some(i) = &incident {
                    r["emergency"] = json!({ "incident": i });
                }
                if skip && !prod && incident.is_some() {
                    r["skip_quality_gates"] = json!(true);
                }
                r
            },
        )
}

fn valid_release() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        Just(
            Catalog::runbook()
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
        .prop_shuffle(),
        1usize..=3,
        email(),
        reason(),
        ticket("CHG-"),
        prop::option::of(ticket("INC-")),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(prod, services, n, by, reason, chg, incident, rollback)| {
            let mut r = json!({"target_env": if prod { "prod" } else { "sit" },
                               "services": services[..n], "requested_by": by, "reason": reason,
                               "change_request": chg});
            if let Some(i) = incident {
                r["emergency"] = json!({ "incident": i });
            }
            if let Some(b) = rollback {
                r["rollback_completed_phases"] = json!(b);
            }
            r
        })
}

fn valid_rollback() -> impl Strategy<Value = Value> {
    (
        service(),
        prop::sample::select(vec!["dev", "sit", "prod"]),
        prop_oneof![
            Just(None),
            (1u32..=9999).prop_map(|n| Some(json!(n))),
            (1u32..=9999).prop_map(|n| Some(json!(n.to_string()))),
            (0i64..4_000_000_000).prop_map(|s| {
                Some(json!(backup_alias(
                    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
                )))
            }),
        ],
        reason(),
        email(),
        ticket("INC-"),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(service, env, target, reason, by, incident, with_incident, force)| {
                let mut r = json!({"service": service, "environment": env, "reason": reason,
                               "requested_by": by});
                if let Some(t) = target {
                    r["target_version"] = t;
                }
                if env == "prod" || force || with_incident {
                    r["incident"] = json!(incident);
                }
                if force {
                    r["force"] = json!(true);
                }
                r
            },
        )
}

/// A value of another JSON type than `original` (a string for a number, a number for a string...).
fn wrong_type(original: &Value) -> impl Strategy<Value = Value> {
    let choices: Vec<Value> = [
        json!(7),
        json!(-1.5),
        json!(true),
        json!("not valid!"),
        json!([]),
        json!(["a"]),
        json!({}),
        json!({"incident": 1}),
    ]
    .into_iter()
    .filter(|v| std::mem::discriminant(v) != std::mem::discriminant(original))
    .collect();
    prop::sample::select(choices)
}

// ------------------------------------------------------------------------------------------------
// What a refusal must say
// ------------------------------------------------------------------------------------------------

/// Every problem names a field (a known one, a path below one, or the caller's own key) and a rule,
/// and the one-line message stays short.
fn check_refusal(e: &InvalidRequest, input: &Value, known: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(!e.errors.is_empty(), "a refusal without a problem");
    let keys: std::collections::HashSet<String> = input
        .as_object()
        .map(|o| {
            o.keys()
                .map(|k| shorten(k.clone(), MAX_FIELD_CHARS))
                .collect()
        })
        .unwrap_or_default();
    for FieldError { field, rule } in &e.errors {
        prop_assert!(!rule.trim().is_empty(), "{field}: no rule");
        let root = field.split(['.', '[']).next().unwrap_or_default();
        let own_key = keys.contains(field);
        prop_assert!(
            field == "request" || known.contains(&root) || own_key,
            "the field '{field}' is not a field of the input ({rule})"
        );
        prop_assert!(field.chars().count() <= MAX_FIELD_CHARS);
        prop_assert!(rule.chars().count() <= MAX_RULE_CHARS);
    }
    let line = e.to_string();
    prop_assert!(
        line.chars().count() <= MAX_MESSAGE_CHARS,
        "a {}-character refusal",
        line.chars().count()
    );
    Ok(())
}

fn catalog() -> Catalog {
    Catalog::runbook()
}

// ------------------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(768))]

    #[test]
    fn any_promotion_input_is_accepted_or_refused_with_named_fields(input in any_input()) {
        if let Err(e) = validate_request(&input, &catalog()) {
            check_refusal(&e, &input, &REQUEST_FIELDS)?;
            if !input.is_object() {
                prop_assert_eq!(e.to_string(), "request: must be a JSON object");
            }
        }
    }

    #[test]
    fn any_release_input_is_accepted_or_refused_with_named_fields(input in any_input()) {
        if let Err(e) = ReleaseRequest::validate(&input, &catalog()) {
            let mut known = RELEASE_FIELDS.to_vec();
            known.push("release");
            check_refusal(&e, &input, &known)?;
        }
    }

    #[test]
    fn any_rollback_input_is_accepted_or_refused_with_named_fields(input in any_input()) {
        if let Err(e) = RollbackRequest::validate(&input, &catalog()) {
            check_refusal(&e, &input, &ROLLBACK_FIELDS)?;
        }
    }
}

proptest! {
    #![proptest_config(cases(384))]

    #[test]
    fn a_valid_promotion_request_is_accepted_and_round_trips(input in valid_request()) {
        let r = validate_request(&input, &catalog())
            .map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        prop_assert_eq!(r.source().as_str(), input["source_env"].as_str().unwrap_or_default());
        prop_assert_eq!(r.reason.as_str(), input["reason"].as_str().unwrap_or_default().trim());
        let again = serde_json::to_value(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(validate_request(&again, &catalog()), Ok(r));
    }

    #[test]
    fn a_valid_release_request_is_accepted_and_round_trips(input in valid_release()) {
        let r = ReleaseRequest::validate(&input, &catalog())
            .map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        let order: Vec<u32> = r.services.iter()
            .filter_map(|s| catalog().get(s).map(|spec| spec.release_order)).collect();
        prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "not in release order: {:?}", r.services);
        let again = serde_json::to_value(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ReleaseRequest::validate(&again, &catalog()), Ok(r));
    }

    #[test]
    fn a_valid_rollback_request_is_accepted_with_its_target(input in valid_rollback()) {
        let r = RollbackRequest::validate(&input, &catalog())
            .map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        let expected = match &input.get("target_version") {
            None => RollbackTarget::NewestBackup,
            Some(Value::Number(n)) => RollbackTarget::Version(n.as_u64().unwrap_or_default() as u32),
            Some(Value::String(s)) if s.starts_with("backup-") => RollbackTarget::Backup(s.clone()),
            Some(Value::String(s)) => RollbackTarget::Version(s.parse().unwrap_or_default()),
            Some(other) => return Err(TestCaseError::fail(format!("generated {other}"))),
        };
        prop_assert_eq!(r.target, expected);
        prop_assert_eq!(r.environment.as_str(), input["environment"].as_str().unwrap_or_default());
    }

    /// The right fields with a value of the wrong type: refused, and the refusal names that field.
    #[test]
    fn a_field_of_the_wrong_type_is_named(
        (input, field, value) in valid_request().prop_flat_map(|r| {
            let fields: Vec<String> = r.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            (Just(r), prop::sample::select(fields))
        }).prop_flat_map(|(r, f)| { let w = wrong_type(&r[&f]); (Just(r), Just(f), w) })
    ) {
        let mut bad = input.clone();
        bad[&field] = value.clone();
        // A version given as a JSON number is a version; any other mistyped value is refused.
        if field == "version" && value.as_u64().is_some_and(|n| (1..=9999).contains(&n)) {
            return Ok(());
        }
        match validate_request(&bad, &catalog()) {
            Ok(r) => return Err(TestCaseError::fail(format!("{field} = {value} accepted: {r:?}"))),
            Err(e) => {
                prop_assert!(e.errors.iter().any(|p| p.field == field || p.field.starts_with(&format!("{field}."))),
                             "{field} = {value}: {e}");
                check_refusal(&e, &bad, &REQUEST_FIELDS)?;
            }
        }
    }

    #[test]
    fn a_rollback_field_of_the_wrong_type_is_named(
        (input, field, value) in valid_rollback().prop_flat_map(|r| {
            let fields: Vec<String> = r.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            (Just(r), prop::sample::select(fields))
        }).prop_flat_map(|(r, f)| { let w = wrong_type(&r[&f]); (Just(r), Just(f), w) })
    ) {
        let mut bad = input.clone();
        bad[&field] = value.clone();
        if field == "target_version" && value.as_u64().is_some_and(|n| (1..=9999).contains(&n)) {
            return Ok(());
        }
        match RollbackRequest::validate(&bad, &catalog()) {
            Ok(r) => return Err(TestCaseError::fail(format!("{field} = {value} accepted: {r:?}"))),
            Err(e) => {
                prop_assert!(e.errors.iter().any(|p| p.field == field), "{field} = {value}: {e}");
                check_refusal(&e, &bad, &ROLLBACK_FIELDS)?;
            }
        }
    }

    #[test]
    fn a_release_field_of_the_wrong_type_is_named(
        (input, field, value) in valid_release().prop_flat_map(|r| {
            let fields: Vec<String> = r.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            (Just(r), prop::sample::select(fields))
        }).prop_flat_map(|(r, f)| { let w = wrong_type(&r[&f]); (Just(r), Just(f), w) })
    ) {
        let mut bad = input.clone();
        bad[&field] = value.clone();
        match ReleaseRequest::validate(&bad, &catalog()) {
            Ok(r) => return Err(TestCaseError::fail(format!("{field} = {value} accepted: {r:?}"))),
            Err(e) => {
                let named = e.errors.iter().any(|p| p.field == field
                    || p.field.starts_with(&format!("{field}.")) || p.field.starts_with(&format!("{field}[")));
                prop_assert!(named, "{field} = {value}: {e}");
                let mut known = RELEASE_FIELDS.to_vec();
                known.push("release");
                check_refusal(&e, &bad, &known)?;
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Small parsers
// ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn version_refs_parse_or_say_why_and_round_trip(text in text()) {
        match VersionRef::parse(&text) {
            Ok(v) => {
                prop_assert_eq!(v.to_string(), text.clone());
                let json = serde_json::to_value(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(serde_json::from_value::<VersionRef>(json).ok(), Some(v));
            }
            Err(rule) => prop_assert!(!rule.is_empty()),
        }
    }

    #[test]
    fn every_version_number_and_alias_is_accepted(n in 1u32..=9999, a in alias()) {
        prop_assert_eq!(VersionRef::parse(&n.to_string()), Ok(VersionRef::Number(n)));
        prop_assert_eq!(VersionRef::parse(&a), Ok(VersionRef::Alias(a.clone())));
    }

    #[test]
    fn environments_are_the_three_names_and_a_refusal_names_the_field(text in text()) {
        match Env::parse("target_env", &text) {
            Ok(env) => prop_assert_eq!(env.as_str(), text.as_str()),
            Err(e) => {
                prop_assert_eq!(e.field.as_str(), "target_env");
                prop_assert!(e.rule.ends_with("(known: dev, sit, prod)"), "{}", e.rule);
            }
        }
    }

    #[test]
    fn times_of_day_parse_only_hh_mm_and_print_back(text in prop_oneof![text(), "[0-9]{1,3}:[0-9]{1,3}"]) {
        if let Ok(t) = TimeOfDay::parse(&text) {
            prop_assert_eq!(t.to_string(), text);
            prop_assert!(t.minutes() <= 24 * 60);
        }
    }

    #[test]
    fn every_minute_of_the_day_parses(minutes in 0u16..=1440) {
        let text = format!("{:02}:{:02}", minutes / 60, minutes % 60);
        prop_assert_eq!(TimeOfDay::parse(&text).map(TimeOfDay::minutes), Ok(minutes));
    }

    #[test]
    fn backup_aliases_parse_back_to_their_time(secs in -62_000_000_000i64..250_000_000_000, other in text()) {
        let at = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
        prop_assert_eq!(parse_backup_alias(&backup_alias(at)), Some(at));
        let _ = parse_backup_alias(&other);
        let _ = looks_like_email(&other);
    }

    #[test]
    fn generated_emails_look_like_emails(e in email()) {
        prop_assert!(looks_like_email(&e), "{e}");
    }
}

// ------------------------------------------------------------------------------------------------
// Link tokens
// ------------------------------------------------------------------------------------------------

fn claims() -> impl Strategy<Value = LinkClaims> {
    (
        "\\PC{1,120}",
        any::<String>(),
        prop::sample::select(vec![
            Role::DevLead,
            Role::TechLead,
            Role::OperationsLead,
            Role::Cto,
        ]),
        prop::sample::select(vec![LinkDecision::Approve, LinkDecision::Reject]),
        -1_000_000_000_000i64..1_000_000_000_000,
    )
        .prop_map(
            |(request_id, approver, role, decision, expires_at)| LinkClaims {
                request_id,
                approver,
                role,
                decision,
                expires_at,
            },
        )
}

/// A token signed with the right key over any body (as someone holding the key could).
fn signed_body(body: &[u8]) -> String {
    let mut m = match Hmac::<Sha256>::new_from_slice(KEY) {
        Ok(m) => m,
        Err(e) => panic!("HMAC takes any key: {e}"),
    };
    m.update(body);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(body),
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn a_signed_link_verifies_until_it_expires(c in claims()) {
        let token = sign(&c, KEY).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        prop_assert_eq!(verify(&token, KEY, c.expires_at), Ok(c.clone()));
        prop_assert_eq!(verify(&token, KEY, c.expires_at + 1), Err(LinkError::Expired));
        prop_assert_eq!(verify(&token, b"another key, long enough to sign with", 0),
                        Err(LinkError::BadSignature));
    }

    #[test]
    fn a_changed_or_truncated_token_never_verifies(
        c in claims(), at in any::<prop::sample::Index>(), with in any::<u8>(), cut in any::<prop::sample::Index>()
    ) {
        let token = sign(&c, KEY).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        let replacement = if with == bytes[i] { with.wrapping_add(1) } else { with };
        bytes[i] = replacement;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(verify(&changed, KEY, c.expires_at).is_err(), "{token} -> {changed}");
        let mut flipped = token.clone().into_bytes();
        flipped[i] ^= 1 << (with % 7);
        let flipped = String::from_utf8_lossy(&flipped).into_owned();
        if flipped != token {
            prop_assert!(verify(&flipped, KEY, c.expires_at).is_err(), "{token} -> {flipped}");
        }
        let prefix = &token[..cut.index(token.len())];
        prop_assert!(verify(prefix, KEY, c.expires_at).is_err());
    }

    #[test]
    fn any_text_is_refused_as_a_token(text in text()) {
        prop_assert!(verify(&text, KEY, 0).is_err());
    }

    /// Right key, wrong content: a body that is not a link's claims (an unknown decision or role,
    /// a missing or mistyped claim) is refused as damaged, never read as a link.
    #[test]
    fn a_signed_body_that_is_not_claims_is_malformed(
        c in claims(), claim in prop::sample::select(vec!["r", "a", "o", "d", "e"]), value in json_value()
    ) {
        let mut body = serde_json::to_value(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        body[claim] = value.clone();
        let token = signed_body(body.to_string().as_bytes());
        match verify(&token, KEY, i64::MIN) {
            Ok(read) => {
                // Only a value of the claim's own type and range can be read back.
                prop_assert!(!read.request_id.is_empty() && read.request_id.len() <= MAX_REQUEST_ID_BYTES);
                prop_assert_eq!(serde_json::to_value(&read).ok(), Some(body));
            }
            Err(e) => prop_assert_eq!(e, LinkError::Malformed),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------

/// Every leaf of a JSON document with its path (`catalog[0].functions[1]`).
fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, p, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{path}[{i}]"), out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut at = doc;
    for part in path.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        at = &mut at[name];
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            at = &mut at[index.parse::<usize>().unwrap_or_default()];
        }
    }
    *at = value;
}

fn runbook_leaves() -> Vec<(String, Value)> {
    let doc = serde_json::to_value(Config::runbook()).unwrap_or_default();
    let mut out = Vec::new();
    leaves(&doc, String::new(), &mut out);
    out
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_configuration_text_is_refused_without_a_panic(text in text()) {
        prop_assert!(Config::from_json(&text).is_err());
    }

    /// One value of the runbook's configuration changed to anything: parsed, or refused naming
    /// where.
    #[test]
    fn a_changed_configuration_value_is_accepted_or_refused_by_path(
        (path, value) in prop::sample::select(runbook_leaves())
            .prop_flat_map(|(p, _)| (Just(p), json_value()))
    ) {
        let mut doc = serde_json::to_value(Config::runbook()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        set_path(&mut doc, &path, value.clone());
        match Config::from_value(doc) {
            Ok(c) => prop_assert!(c.validate().is_empty()),
            Err(ConfigError::Parse(e)) => {
                let top = path.split(['.', '[']).next().unwrap_or_default();
                prop_assert!(e.field.starts_with(top), "{path} = {value}: {e}");
                prop_assert!(e.rule.chars().count() <= MAX_RULE_CHARS);
            }
            Err(ConfigError::Invalid(errors)) => {
                let top = path.split(['.', '[']).next().unwrap_or_default();
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|e| e.field.starts_with(top)), "{path} = {value}: {errors:?}");
            }
        }
    }

    /// A value of the wrong type is refused with its own path.
    #[test]
    fn a_configuration_value_of_the_wrong_type_names_its_path(
        (path, value) in prop::sample::select(runbook_leaves())
            .prop_flat_map(|(p, v)| (Just(p), wrong_type(&v)))
    ) {
        let mut doc = serde_json::to_value(Config::runbook()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        set_path(&mut doc, &path, value.clone());
        match Config::from_value(doc) {
            Err(ConfigError::Parse(e)) => prop_assert!(path.starts_with(&e.field) && e.field.len() > 1,
                                                       "{path} = {value}: {e}"),
            other => return Err(TestCaseError::fail(format!("{path} = {value}: {other:?}"))),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Other documents read from outside: the approver directory (SSM), windows, requirements
// ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn other_documents_read_any_json_without_a_panic(value in json_value()) {
        use bbws_domain::{ApprovalPolicy, Directory, Requirement, Window};
        if let Ok(d) = serde_json::from_value::<Directory>(value.clone()) {
            let again = serde_json::to_value(&d).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(serde_json::from_value::<Directory>(again).ok(), Some(d));
        }
        if let Ok(w) = serde_json::from_value::<Window>(value.clone()) {
            prop_assert!(w.start() < w.end());
            let again = serde_json::to_value(w).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(serde_json::from_value::<Window>(again).ok(), Some(w));
        }
        let _ = serde_json::from_value::<Requirement>(value.clone());
        let _ = serde_json::from_value::<ApprovalPolicy>(value);
    }
}
