//! Validation of a promotion request, reporting every problem at once.
//!
//! The input is the JSON a person or pipeline starts a promotion with:
//!
//! ```json
//! {"service": "site-management", "source_env": "sit", "target_env": "prod",
//!  "version": "latest-sit", "requested_by": "dev@bbws.io", "reason": "release 1.4",
//!  "change_request": "CHG-1234", "skip_quality_gates": false,
//!  "emergency": {"incident": "INC-42"}}
//! ```
//!
//! An optional field given as `null` counts as absent. A validated [`PromotionRequest`]
//! serializes back to the same shape, so validating its JSON again gives the same request.

use crate::catalog::Catalog;
use crate::env::{Env, PromotionPath};
use crate::fields::is_ticket;
use crate::naming::{latest_alias, VersionRef};
use serde::{Deserialize, Serialize};

use crate::fields::Validator;
pub use crate::fields::{
    looks_like_email, InvalidRequest, MAX_EMAIL_LEN, MAX_REASON_CHARS, MAX_TICKET_DIGITS,
};
use serde_json::Value;

/// The top-level fields a request may have.
pub const REQUEST_FIELDS: [&str; 10] = [
    "service",
    "source_env",
    "target_env",
    "version",
    "requested_by",
    "reason",
    "change_request",
    "skip_quality_gates",
    "emergency",
    "release",
];

/// An emergency declaration: the incident that justifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    /// `INC-<digits>`.
    pub incident: String,
}

/// A validated promotion request.
///
/// It writes the input's shape (`source_env` and `target_env`, not the path) and reads it back:
/// a plan carries its request from step to step this way. Reading does not validate again (the
/// catalog is not at hand): only [`validate_request`] makes a request from a person's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RequestRepr", try_from = "RequestRepr")]
pub struct PromotionRequest {
    /// A service in the catalog.
    pub service: String,
    /// DEV -> SIT or SIT -> PROD.
    pub path: PromotionPath,
    /// What to promote; `latest-<source_env>` when not given.
    pub version: VersionRef,
    /// The requester's email address.
    pub requested_by: String,
    /// Why, trimmed.
    pub reason: String,
    /// `CHG-<digits>`; always present for PROD.
    pub change_request: Option<String>,
    /// Whether the quality gates are skipped (SIT emergencies only).
    pub skip_quality_gates: bool,
    /// Present when an emergency was declared.
    pub emergency: Option<Emergency>,
    /// Present when the promotion is a phase of a release (`bbws-release-<env>`), whose approval
    /// it accepts instead of asking again.
    pub release: Option<ReleaseRef>,
}

impl PromotionRequest {
    /// Validates `input` against the rules and the services in `catalog`.
    pub fn validate(input: &Value, catalog: &Catalog) -> Result<PromotionRequest, InvalidRequest> {
        validate_request(input, catalog)
    }

    /// The environment promoted from.
    pub fn source(&self) -> Env {
        self.path.source()
    }

    /// The environment promoted to.
    pub fn target(&self) -> Env {
        self.path.target()
    }

    /// Whether an emergency was declared.
    pub fn is_emergency(&self) -> bool {
        self.emergency.is_some()
    }
}

#[derive(Serialize, Deserialize)]
struct RequestRepr {
    service: String,
    source_env: Env,
    target_env: Env,
    version: VersionRef,
    requested_by: String,
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    change_request: Option<String>,
    #[serde(default)]
    skip_quality_gates: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emergency: Option<Emergency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseRef>,
}

impl TryFrom<RequestRepr> for PromotionRequest {
    type Error = crate::env::InvalidPath;

    fn try_from(r: RequestRepr) -> Result<PromotionRequest, Self::Error> {
        Ok(PromotionRequest {
            service: r.service,
            path: PromotionPath::new(r.source_env, r.target_env)?,
            version: r.version,
            requested_by: r.requested_by,
            reason: r.reason,
            change_request: r.change_request,
            skip_quality_gates: r.skip_quality_gates,
            emergency: r.emergency,
            release: r.release,
        })
    }
}

impl From<PromotionRequest> for RequestRepr {
    fn from(r: PromotionRequest) -> RequestRepr {
        RequestRepr {
            service: r.service,
            source_env: r.path.source(),
            target_env: r.path.target(),
            version: r.version,
            requested_by: r.requested_by,
            reason: r.reason,
            change_request: r.change_request,
            skip_quality_gates: r.skip_quality_gates,
            emergency: r.emergency,
            release: r.release,
        }
    }
}

/// What a phase's promotion carries to find its release's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRef {
    /// The release execution.
    pub execution_arn: String,
    /// The phase, from 1.
    pub phase: u32,
}

impl ReleaseRef {
    /// Checks the reference's shape: a `bbws-release-<env>` execution ARN and a phase from 1.
    pub fn validate(&self, target: Env) -> Result<(), String> {
        let machine = format!("bbws-release-{}", target.as_str());
        let parts: Vec<&str> = self.execution_arn.split(':').collect();
        let ok = parts.len() == 8
            && parts[0] == "arn"
            && parts[2] == "states"
            && parts[5] == "execution"
            && parts[6] == machine
            && !parts[7].is_empty();
        if !ok {
            return Err(format!(
                "execution_arn must be an execution of {machine} (arn:aws:states:<region>:<account>:execution:{machine}:<name>)"
            ));
        }
        if self.phase == 0 {
            return Err("phase must be 1 or more".into());
        }
        Ok(())
    }

    /// The release execution's name.
    pub fn release_name(&self) -> &str {
        self.execution_arn.rsplit(':').next().unwrap_or_default()
    }
}

/// Validates a promotion request; see the module documentation for the rules.
pub fn validate_request(
    input: &Value,
    catalog: &Catalog,
) -> Result<PromotionRequest, InvalidRequest> {
    let mut v = Validator::of(input)?;
    let service = v.service(catalog);
    let path = v.path();
    let source = path.map(PromotionPath::source);
    let target = path.map(PromotionPath::target);
    let parts = Parts {
        service,
        path,
        version: v.version(source),
        requested_by: v.requested_by(),
        reason: v.reason(),
        change_request: v.change_request(target),
        skip_quality_gates: v.flag("skip_quality_gates"),
        emergency: v.emergency(),
        release: v.release(target),
    };
    if parts.skip_quality_gates == Some(true) {
        v.check_skip(target);
    }
    v.unknown_fields();
    match parts.assemble() {
        Some(request) if v.errors.is_empty() => Ok(request),
        _ => {
            if v.errors.is_empty() {
                v.fail("request", "is incomplete");
            }
            Err(InvalidRequest { errors: v.errors })
        }
    }
}

/// The fields as far as each could be validated; `None` where there was a problem.
struct Parts {
    service: Option<String>,
    path: Option<PromotionPath>,
    version: Option<VersionRef>,
    requested_by: Option<String>,
    reason: Option<String>,
    change_request: Option<Option<String>>,
    skip_quality_gates: Option<bool>,
    emergency: Option<Option<Emergency>>,
    release: Option<Option<ReleaseRef>>,
}

impl Parts {
    fn assemble(self) -> Option<PromotionRequest> {
        Some(PromotionRequest {
            service: self.service?,
            path: self.path?,
            version: self.version?,
            requested_by: self.requested_by?,
            reason: self.reason?,
            change_request: self.change_request?,
            skip_quality_gates: self.skip_quality_gates?,
            emergency: self.emergency?,
            release: self.release?,
        })
    }
}

impl<'a> Validator<'a> {
    fn path(&mut self) -> Option<PromotionPath> {
        let source = self.env("source_env");
        let target = self.env("target_env");
        let (source, target) = (source?, target?);
        PromotionPath::new(source, target)
            .map_err(|e| self.fail("target_env", e.to_string()))
            .ok()
    }

    fn version(&mut self, source: Option<Env>) -> Option<VersionRef> {
        let parsed = match self.get("version") {
            None => return source.map(|env| VersionRef::Alias(latest_alias(env))),
            Some(Value::String(s)) => VersionRef::parse(s),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) => VersionRef::parse(&n.to_string()),
                None => Err(format!("version number '{n}' must be 1 to 9999")),
            },
            Some(_) => Err("must be a string (a version number or an alias)".into()),
        };
        parsed.map_err(|rule| self.fail("version", rule)).ok()
    }

    /// `Some(None)` when validly absent; `None` when there was a problem.
    fn change_request(&mut self, target: Option<Env>) -> Option<Option<String>> {
        let field = "change_request";
        let ticket = self.optional_str(field).ok()?;
        match ticket {
            None if target == Some(Env::Prod) => {
                self.fail(field, "is required for promotion to prod (CHG-<digits>)");
                None
            }
            None => Some(None),
            Some(t) if is_ticket(t, "CHG-") => Some(Some(t.to_owned())),
            Some(t) => {
                self.fail(field, format!("'{t}' must look like CHG-<digits>"));
                None
            }
        }
    }

    /// `Some(None)` when validly absent; `None` when there was a problem.
    fn emergency(&mut self) -> Option<Option<Emergency>> {
        let Some(value) = self.get("emergency") else {
            return Some(None);
        };
        let Some(obj) = value.as_object() else {
            self.fail(
                "emergency",
                "must be an object like {\"incident\": \"INC-123\"}",
            );
            return None;
        };
        let mut ok = true;
        for key in obj.keys().filter(|k| k.as_str() != "incident") {
            self.fail(
                &format!("emergency.{key}"),
                "unknown field (allowed: incident)",
            );
            ok = false;
        }
        let incident = match obj.get("incident") {
            None | Some(Value::Null) => {
                self.fail("emergency.incident", "is required (INC-<digits>)");
                None
            }
            Some(Value::String(s)) if is_ticket(s, "INC-") => Some(s.clone()),
            Some(Value::String(s)) => {
                self.fail(
                    "emergency.incident",
                    format!("'{s}' must look like INC-<digits>"),
                );
                None
            }
            Some(_) => {
                self.fail("emergency.incident", "must be a string");
                None
            }
        };
        match (ok, incident) {
            (true, Some(incident)) => Some(Some(Emergency { incident })),
            _ => None,
        }
    }

    /// `Some(None)` when validly absent; `None` when there was a problem.
    fn release(&mut self, target: Option<Env>) -> Option<Option<ReleaseRef>> {
        let Some(value) = self.get("release") else {
            return Some(None);
        };
        let parsed = serde_json::from_value::<ReleaseRef>(value.clone()).map_err(|e| {
            format!(
                "must be {{\"execution_arn\": <a bbws-release execution>, \"phase\": <n>}} ({e})"
            )
        });
        let checked = parsed.and_then(|r| match target {
            Some(t) => r.validate(t).map(|()| r),
            None => Ok(r),
        });
        match checked {
            Ok(r) => Some(Some(r)),
            Err(rule) => {
                self.fail("release", rule);
                None
            }
        }
    }

    fn check_skip(&mut self, target: Option<Env>) {
        let field = "skip_quality_gates";
        match target {
            Some(Env::Prod) => self.fail(field, "is never allowed for promotion to prod"),
            Some(_) if self.get("emergency").is_none() => self.fail(
                field,
                "is only allowed together with an emergency ({\"incident\": \"INC-<digits>\"})",
            ),
            _ => {}
        }
    }

    fn unknown_fields(&mut self) {
        self.unknown_fields_of(&REQUEST_FIELDS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog::runbook()
    }

    fn dev_to_sit() -> Value {
        json!({
            "service": "tenant-instance-management",
            "source_env": "dev",
            "target_env": "sit",
            "requested_by": "dev@bbws.io",
            "reason": "Fix tenant listing pagination"
        })
    }

    #[test]
    fn a_validated_request_reads_back_from_the_shape_it_writes() {
        let written = json!({"service": "site-management", "source_env": "sit",
            "target_env": "prod", "version": "12", "requested_by": "dev@bbws.io",
            "reason": "Release 1.4", "change_request": "CHG-1234", "skip_quality_gates": false,
            "emergency": {"incident": "INC-42"}});
        let request = validate_request(&written, &catalog()).expect("valid");
        assert_eq!(serde_json::to_value(&request).ok(), Some(written.clone()));
        let read: PromotionRequest = serde_json::from_value(written).expect("reads");
        assert_eq!(read, request);
        let minimal = json!({"service": "tenant-instance-management", "source_env": "dev",
            "target_env": "sit", "version": "latest-dev", "requested_by": "dev@bbws.io",
            "reason": "r", "skip_quality_gates": false});
        let read: PromotionRequest = serde_json::from_value(minimal.clone()).expect("reads");
        assert_eq!(read.path, PromotionPath::DevToSit);
        assert_eq!(read.change_request, None);
        assert_eq!(serde_json::to_value(&read).ok(), Some(minimal));
        let backwards = json!({"service": "x", "source_env": "prod", "target_env": "dev",
            "version": "1", "requested_by": "a@b.io", "reason": "r"});
        assert!(serde_json::from_value::<PromotionRequest>(backwards).is_err());
    }

    fn sit_to_prod() -> Value {
        json!({
            "service": "site-management",
            "source_env": "sit",
            "target_env": "prod",
            "version": "12",
            "requested_by": "dev@bbws.io",
            "reason": "Release 1.4",
            "change_request": "CHG-1234"
        })
    }

    fn errors_of(input: &Value) -> Vec<String> {
        match validate_request(input, &catalog()) {
            Ok(r) => panic!("expected errors, got {r:?}"),
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    #[test]
    fn a_minimal_dev_to_sit_request_gets_defaults() {
        let r = validate_request(&dev_to_sit(), &catalog()).unwrap();
        assert_eq!(r.service, "tenant-instance-management");
        assert_eq!(r.path, PromotionPath::DevToSit);
        assert_eq!(r.version, VersionRef::Alias("latest-dev".into()));
        assert_eq!(r.change_request, None);
        assert!(!r.skip_quality_gates);
        assert!(!r.is_emergency());
    }

    #[test]
    fn a_full_prod_request_is_typed() {
        let r = PromotionRequest::validate(&sit_to_prod(), &catalog()).unwrap();
        assert_eq!((r.source(), r.target()), (Env::Sit, Env::Prod));
        assert_eq!(r.version, VersionRef::Number(12));
        assert_eq!(r.change_request.as_deref(), Some("CHG-1234"));
    }

    #[test]
    fn unknown_service_lists_the_known_ones() {
        let input = with(dev_to_sit(), "service", json!("x"));
        assert_eq!(
            errors_of(&input),
            [
                "service: unknown service 'x' (known: ecs-event-handler, site-management, \
              tenant-instance-management)"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let input = json!({
            "service": 3,
            "source_env": "dev",
            "target_env": "prod",
            "requested_by": "not an email",
            "reason": "   ",
            "colour": "blue"
        });
        assert_eq!(
            errors_of(&input),
            [
                "service: must be a string",
                "target_env: cannot promote dev -> prod (allowed: dev -> sit, sit -> prod)",
                "requested_by: 'not an email' does not look like an email address",
                "reason: must not be blank",
                "colour: unknown field (allowed: service, source_env, target_env, version, \
                 requested_by, reason, change_request, skip_quality_gates, emergency, release)",
            ]
        );
    }

    #[test]
    fn missing_required_fields_are_each_named() {
        assert_eq!(
            errors_of(&json!({})),
            [
                "service: is required",
                "source_env: is required",
                "target_env: is required",
                "requested_by: is required",
                "reason: is required",
            ]
        );
    }

    #[test]
    fn non_objects_are_rejected() {
        for input in [json!([]), json!("dev"), json!(null)] {
            assert_eq!(errors_of(&input), ["request: must be a JSON object"]);
        }
    }

    #[test]
    fn environments_must_be_known_names() {
        let input = with(dev_to_sit(), "target_env", json!("staging"));
        assert_eq!(
            errors_of(&input),
            ["target_env: unknown environment 'staging' (known: dev, sit, prod)"]
        );
    }

    #[test]
    fn prod_requires_a_change_request() {
        let mut input = sit_to_prod();
        input.as_object_mut().unwrap().remove("change_request");
        assert_eq!(
            errors_of(&input),
            ["change_request: is required for promotion to prod (CHG-<digits>)"]
        );
        let null = with(sit_to_prod(), "change_request", Value::Null);
        assert_eq!(errors_of(&null).len(), 1);
    }

    #[test]
    fn change_requests_are_pattern_checked_on_any_path() {
        for bad in ["CHG-", "chg-12", "CHG-12a", "CHG 12", "CHG-1234567890123"] {
            let input = with(dev_to_sit(), "change_request", json!(bad));
            assert_eq!(
                errors_of(&input),
                [format!(
                    "change_request: '{bad}' must look like CHG-<digits>"
                )]
            );
        }
        let good = with(dev_to_sit(), "change_request", json!("CHG-7"));
        assert!(validate_request(&good, &catalog()).is_ok());
    }

    #[test]
    fn skipping_gates_is_never_allowed_for_prod() {
        let mut input = with(sit_to_prod(), "skip_quality_gates", json!(true));
        input["emergency"] = json!({"incident": "INC-9"});
        assert_eq!(
            errors_of(&input),
            ["skip_quality_gates: is never allowed for promotion to prod"]
        );
    }

    #[test]
    fn skipping_gates_for_sit_needs_an_emergency() {
        let input = with(dev_to_sit(), "skip_quality_gates", json!(true));
        assert_eq!(
            errors_of(&input),
            [
                "skip_quality_gates: is only allowed together with an emergency \
              ({\"incident\": \"INC-<digits>\"})"
            ]
        );
        let emergency = with(input, "emergency", json!({"incident": "INC-42"}));
        let r = validate_request(&emergency, &catalog()).unwrap();
        assert!(r.skip_quality_gates);
        assert_eq!(
            r.emergency,
            Some(Emergency {
                incident: "INC-42".into()
            })
        );
    }

    #[test]
    fn skip_quality_gates_false_is_fine_and_must_be_a_bool() {
        let explicit = with(sit_to_prod(), "skip_quality_gates", json!(false));
        assert!(validate_request(&explicit, &catalog()).is_ok());
        let text = with(dev_to_sit(), "skip_quality_gates", json!("false"));
        assert_eq!(
            errors_of(&text),
            ["skip_quality_gates: must be true or false"]
        );
    }

    #[test]
    fn emergency_needs_a_well_formed_incident_and_nothing_else() {
        let cases = [
            (json!({}), "emergency.incident: is required (INC-<digits>)"),
            (
                json!({"incident": "INC42"}),
                "emergency.incident: 'INC42' must look like INC-<digits>",
            ),
            (
                json!({"incident": 42}),
                "emergency.incident: must be a string",
            ),
            (
                json!("INC-42"),
                "emergency: must be an object like {\"incident\": \"INC-123\"}",
            ),
        ];
        for (value, expected) in cases {
            let input = with(dev_to_sit(), "emergency", value);
            assert_eq!(errors_of(&input), [expected]);
        }
        let extra = with(
            dev_to_sit(),
            "emergency",
            json!({"incident": "INC-1", "severity": "p1"}),
        );
        assert_eq!(
            errors_of(&extra),
            ["emergency.severity: unknown field (allowed: incident)"]
        );
    }

    #[test]
    fn version_accepts_numbers_aliases_and_json_integers() {
        let alias = with(dev_to_sit(), "version", json!("backup-20260125-103045"));
        assert_eq!(
            validate_request(&alias, &catalog()).unwrap().version,
            VersionRef::Alias("backup-20260125-103045".into())
        );
        let number = with(dev_to_sit(), "version", json!(7));
        assert_eq!(
            validate_request(&number, &catalog()).unwrap().version,
            VersionRef::Number(7)
        );
        for bad in [
            json!("v1.0.5"),
            json!(0),
            json!(-3),
            json!(1.5),
            json!(true),
        ] {
            let input = with(dev_to_sit(), "version", bad.clone());
            let errors = errors_of(&input);
            assert_eq!(errors.len(), 1, "{bad}");
            assert!(errors[0].starts_with("version: "), "{bad}");
        }
    }

    #[test]
    fn requested_by_must_look_like_an_email_of_at_most_254_characters() {
        let long_local = format!("{}@bbws.io", "a".repeat(64));
        assert!(looks_like_email(&long_local));
        let too_long = format!("{}@{}.io", "a".repeat(64), "b".repeat(188));
        assert_eq!(too_long.len(), 256);
        let input = with(dev_to_sit(), "requested_by", json!(too_long));
        assert_eq!(
            errors_of(&input),
            ["requested_by: must be at most 254 characters"]
        );
    }

    #[test]
    fn email_shapes() {
        for good in [
            "dev@bbws.io",
            "first.last+tag@mail.bbws.co.za",
            "o'neil@x-y.com",
        ] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in [
            "",
            "dev",
            "dev@",
            "@bbws.io",
            "dev@bbws",
            "dev@@bbws.io",
            "de v@bbws.io",
            "dev@bbws..io",
            "dev@-bbws.io",
            ".dev@bbws.io",
            "dev@bbws.i",
            "dev@bbws.123",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn reason_is_trimmed_and_limited_to_500_characters() {
        let padded = with(dev_to_sit(), "reason", json!("  hotfix  "));
        assert_eq!(
            validate_request(&padded, &catalog()).unwrap().reason,
            "hotfix"
        );
        let at_limit = with(dev_to_sit(), "reason", json!("é".repeat(500)));
        assert!(validate_request(&at_limit, &catalog()).is_ok());
        let over = with(dev_to_sit(), "reason", json!("x".repeat(501)));
        assert_eq!(
            errors_of(&over),
            ["reason: must be at most 500 characters (got 501)"]
        );
    }

    #[test]
    fn optional_nulls_count_as_absent() {
        let mut input = dev_to_sit();
        for key in [
            "version",
            "change_request",
            "skip_quality_gates",
            "emergency",
        ] {
            input[key] = Value::Null;
        }
        let r = validate_request(&input, &catalog()).unwrap();
        assert_eq!(r.version, VersionRef::Alias("latest-dev".into()));
        assert!(!r.skip_quality_gates && r.emergency.is_none());
    }

    #[test]
    fn a_release_phase_names_a_release_execution_of_its_target_environment() {
        let arn = "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:rel-1";
        let ok = with(
            dev_to_sit(),
            "release",
            json!({"execution_arn": arn, "phase": 2}),
        );
        let r = validate_request(&ok, &catalog()).expect("valid");
        assert_eq!(r.release.as_ref().map(|r| r.phase), Some(2));
        assert_eq!(
            serde_json::to_value(&r).expect("json")["release"]["execution_arn"],
            arn
        );
        let prod_arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-release-prod:rel-1";
        for (bad, starts) in [
            (
                json!({"execution_arn": prod_arn, "phase": 1}),
                "release: execution_arn must be an execution of bbws-release-sit",
            ),
            (
                json!({"execution_arn": arn, "phase": 0}),
                "release: phase must be 1 or more",
            ),
            (json!({"execution_arn": arn}), "release: must be {"),
            (
                json!({"execution_arn": arn, "phase": 1, "token": "x"}),
                "release: must be {",
            ),
        ] {
            let errors = errors_of(&with(dev_to_sit(), "release", bad));
            assert!(
                errors.len() == 1 && errors[0].starts_with(starts),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn a_validated_request_round_trips_through_its_json() {
        let mut input = with(dev_to_sit(), "skip_quality_gates", json!(true));
        input["emergency"] = json!({"incident": "INC-42"});
        for original in [input, sit_to_prod()] {
            let r = validate_request(&original, &catalog()).unwrap();
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["source_env"], original["source_env"]);
            assert_eq!(validate_request(&json, &catalog()).unwrap(), r);
        }
        let json =
            serde_json::to_value(validate_request(&dev_to_sit(), &catalog()).unwrap()).unwrap();
        assert_eq!(json["version"], "latest-dev");
        assert!(json.get("change_request").is_none());
    }

    #[test]
    fn invalid_request_displays_all_errors_on_one_line() {
        let err = validate_request(&json!({"service": "x"}), &catalog()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("service: unknown service 'x'"));
        assert!(text.contains("; source_env: is required; "));
    }
}
