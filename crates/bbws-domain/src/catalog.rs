//! The service catalog (RB-003 §1.4), release order (§5.1), health waits (§5.2.1) and the smoke
//! tests run after a deployment (§3.3, §7: "smoke tests pass", read-only in PROD).

use crate::env::Env;
use crate::errors::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The placeholder a function-name template replaces with the environment name.
pub const ENV_PLACEHOLDER: &str = "{env}";

/// The longest service name accepted, so execution names stay within 80 characters.
pub const MAX_SERVICE_NAME_LEN: usize = 40;

/// The longest health wait accepted (one day), to catch values given in the wrong unit.
pub const MAX_HEALTH_WAIT_SECONDS: u64 = 86_400;

/// The longest Lambda function name AWS accepts.
const MAX_FUNCTION_NAME_LEN: usize = 64;

/// The longest smoke-test path accepted.
pub const MAX_SMOKE_PATH_LEN: usize = 256;

/// The HTTP methods a smoke test may use; `GET` and `HEAD` are the read-only ones.
pub const SMOKE_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// One request a service must answer as expected right after a deployment, sent to the new
/// `latest-<target>` alias as an API Gateway (payload 1.0) request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTest {
    /// The function it is sent to: in the catalog, one of the service's function templates
    /// (`{env}` placeholder); in a plan, the function's name in the target environment.
    pub function: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The request path, starting with `/`.
    pub path: String,
    /// The `statusCode` that passes.
    pub expected_status: u16,
}

impl SmokeTest {
    /// A `GET` of `path` on `function` that must answer 200.
    pub fn get(function: &str, path: &str) -> SmokeTest {
        SmokeTest {
            function: function.to_owned(),
            method: "GET".into(),
            path: path.to_owned(),
            expected_status: 200,
        }
    }

    /// Whether the request only reads (`GET`, `HEAD`): the only kind run in PROD.
    pub fn is_read_only(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
    }

    /// The API Gateway request the function receives.
    pub fn request(&self) -> serde_json::Value {
        serde_json::json!({"httpMethod": self.method, "path": self.path, "headers": {}})
    }

    /// `GET /tenants on bbws-tenant-instance-management-sit`.
    pub fn label(&self) -> String {
        format!("{} {} on {}", self.method, self.path, self.function)
    }

    fn in_env(&self, env: Env) -> SmokeTest {
        SmokeTest {
            function: render(&self.function, env),
            ..self.clone()
        }
    }
}

/// One promotable service and the Lambda functions that move together with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's name, e.g. `tenant-instance-management`.
    pub name: String,
    /// Position in a full-stack release: lower goes first (§5.1).
    pub release_order: u32,
    /// How long to wait after this service's phase before the next one (§5.2.1).
    pub health_wait_seconds: u64,
    /// Function-name templates; `{env}` is replaced with `dev`, `sit` or `prod`.
    pub functions: Vec<String>,
    /// When set, the EventBridge rules whose names contain this text belong to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eventbridge_rule_contains: Option<String>,
    /// Requests the service must answer right after a deployment; `[]` for none.
    pub smoke_tests: Vec<SmokeTest>,
}

impl ServiceSpec {
    /// The service's Lambda function names in `env`, in catalog order.
    pub fn function_names(&self, env: Env) -> Vec<String> {
        self.functions
            .iter()
            .map(|template| render(template, env))
            .collect()
    }

    /// The smoke tests to run after a deployment to `env`, with the functions' names in `env`:
    /// all of them in DEV and SIT, only the read-only ones in PROD (RB-003 §7.2).
    pub fn smoke_tests_for(&self, env: Env) -> Vec<SmokeTest> {
        self.smoke_tests
            .iter()
            .filter(|t| env != Env::Prod || t.is_read_only())
            .map(|t| t.in_env(env))
            .collect()
    }

    /// Whether the service has EventBridge rules to check after a deployment.
    pub fn has_eventbridge_rules(&self) -> bool {
        self.eventbridge_rule_contains.is_some()
    }

    /// Whether the EventBridge rule called `rule_name` belongs to this service.
    pub fn owns_rule(&self, rule_name: &str) -> bool {
        self.eventbridge_rule_contains
            .as_deref()
            .is_some_and(|needle| rule_name.contains(needle))
    }
}

/// A problem looking services up in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The name is not in the catalog.
    #[error("unknown service '{name}' (known: {known})")]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The catalog's names, alphabetically, comma-separated.
        known: String,
    },
    /// The same service was named more than once.
    #[error("service '{name}' is listed more than once")]
    Repeated {
        /// The repeated name.
        name: String,
    },
    /// No service was named.
    #[error("no services given")]
    Empty,
}

/// The promotable services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Catalog {
    /// The services, in any order.
    pub services: Vec<ServiceSpec>,
}

impl Catalog {
    /// RB-003's three Lambda services.
    ///
    /// Terraform GitOps (§1.4, order 4) is infrastructure, not Lambda code, and is not promoted
    /// by this backend, so it is not in the catalog.
    pub fn runbook() -> Catalog {
        Catalog {
            services: vec![
                ServiceSpec {
                    name: "tenant-instance-management".into(),
                    release_order: 1,
                    health_wait_seconds: 300,
                    functions: vec!["bbws-tenant-instance-management-{env}".into()],
                    eventbridge_rule_contains: None,
                    smoke_tests: vec![SmokeTest::get(
                        "bbws-tenant-instance-management-{env}",
                        "/tenants",
                    )],
                },
                ServiceSpec {
                    name: "ecs-event-handler".into(),
                    release_order: 2,
                    health_wait_seconds: 300,
                    functions: vec!["bbws-ecs-event-handler-{env}".into()],
                    eventbridge_rule_contains: Some("ecs-event-handler".into()),
                    smoke_tests: vec![SmokeTest::get("bbws-ecs-event-handler-{env}", "/events")],
                },
                ServiceSpec {
                    name: "site-management".into(),
                    release_order: 3,
                    health_wait_seconds: 600,
                    functions: vec![
                        "{env}-bbws-sites-service".into(),
                        "{env}-bbws-templates-service".into(),
                        "{env}-bbws-plugins-service".into(),
                        "{env}-bbws-async-processor".into(),
                    ],
                    eventbridge_rule_contains: None,
                    smoke_tests: vec![
                        SmokeTest::get("{env}-bbws-sites-service", "/sites"),
                        SmokeTest::get("{env}-bbws-templates-service", "/templates"),
                        SmokeTest::get("{env}-bbws-plugins-service", "/plugins"),
                        SmokeTest::get("{env}-bbws-async-processor", "/jobs/job-001"),
                    ],
                },
            ],
        }
    }

    /// The service called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service called `name`, or an error listing the known names.
    pub fn require(&self, name: &str) -> Result<&ServiceSpec, CatalogError> {
        self.get(name).ok_or_else(|| CatalogError::UnknownService {
            name: name.to_owned(),
            known: self.names().join(", "),
        })
    }

    /// The service names, alphabetically.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// The Lambda function names of `service` in `env`.
    pub fn function_names(&self, service: &str, env: Env) -> Result<Vec<String>, CatalogError> {
        self.require(service).map(|s| s.function_names(env))
    }

    /// The named services sorted into release order (§5.1).
    ///
    /// Rejects an empty list, an unknown name, and a name given twice.
    pub fn release_order<S: AsRef<str>>(
        &self,
        services: &[S],
    ) -> Result<Vec<&ServiceSpec>, CatalogError> {
        if services.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut seen = BTreeSet::new();
        let mut specs = Vec::with_capacity(services.len());
        for name in services.iter().map(AsRef::as_ref) {
            if !seen.insert(name) {
                return Err(CatalogError::Repeated { name: name.into() });
            }
            specs.push(self.require(name)?);
        }
        specs.sort_by_key(|s| (s.release_order, s.name.as_str()));
        Ok(specs)
    }

    /// Every problem with the catalog's data; empty when it is usable.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.services.is_empty() {
            errors.push(FieldError::new(field, "must list at least one service"));
        }
        let mut names = BTreeSet::new();
        let mut orders = BTreeSet::new();
        for (i, spec) in self.services.iter().enumerate() {
            let at = format!("{field}[{i}]");
            if !names.insert(spec.name.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    format!("service '{}' is listed more than once", spec.name),
                ));
            }
            if !orders.insert(spec.release_order) {
                errors.push(FieldError::new(
                    format!("{at}.release_order"),
                    format!("release order {} is used twice", spec.release_order),
                ));
            }
            errors.extend(validate_spec(&at, spec));
        }
        errors
    }
}

fn render(template: &str, env: Env) -> String {
    template.replace(ENV_PLACEHOLDER, env.as_str())
}

fn validate_spec(at: &str, spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_service_name(&spec.name) {
        errors.push(FieldError::new(
            format!("{at}.name"),
            format!(
                "'{}' must be 1 to {MAX_SERVICE_NAME_LEN} lower-case letters, digits or \
                 hyphens, not starting or ending with a hyphen",
                spec.name
            ),
        ));
    }
    if spec.release_order == 0 {
        errors.push(FieldError::new(
            format!("{at}.release_order"),
            "must be 1 or more",
        ));
    }
    if spec.health_wait_seconds > MAX_HEALTH_WAIT_SECONDS {
        errors.push(FieldError::new(
            format!("{at}.health_wait_seconds"),
            format!("must be at most {MAX_HEALTH_WAIT_SECONDS}"),
        ));
    }
    if spec.functions.is_empty() {
        errors.push(FieldError::new(
            format!("{at}.functions"),
            "must list at least one function",
        ));
    }
    let mut seen = BTreeSet::new();
    for (j, template) in spec.functions.iter().enumerate() {
        let field = format!("{at}.functions[{j}]");
        if !seen.insert(template.as_str()) {
            errors.push(FieldError::new(&field, "is listed twice"));
        }
        if let Some(rule) = template_problem(template) {
            errors.push(FieldError::new(field, rule));
        }
    }
    if spec.eventbridge_rule_contains.as_deref() == Some("") {
        errors.push(FieldError::new(
            format!("{at}.eventbridge_rule_contains"),
            "must not be empty when given",
        ));
    }
    for (k, test) in spec.smoke_tests.iter().enumerate() {
        errors.extend(validate_smoke_test(
            &format!("{at}.smoke_tests[{k}]"),
            spec,
            test,
        ));
    }
    errors
}

fn validate_smoke_test(at: &str, spec: &ServiceSpec, test: &SmokeTest) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !spec.functions.contains(&test.function) {
        errors.push(FieldError::new(
            format!("{at}.function"),
            format!(
                "'{}' is not one of the service's functions ({})",
                test.function,
                spec.functions.join(", ")
            ),
        ));
    }
    if !SMOKE_METHODS.contains(&test.method.as_str()) {
        errors.push(FieldError::new(
            format!("{at}.method"),
            format!(
                "'{}' must be one of {}",
                test.method,
                SMOKE_METHODS.join(", ")
            ),
        ));
    }
    let path_ok = test.path.starts_with('/')
        && test.path.len() <= MAX_SMOKE_PATH_LEN
        && test.path.bytes().all(|b| b.is_ascii_graphic());
    if !path_ok {
        errors.push(FieldError::new(
            format!("{at}.path"),
            format!(
                "'{}' must start with '/' and be at most {MAX_SMOKE_PATH_LEN} printable \
                 characters without spaces",
                test.path
            ),
        ));
    }
    if !(100..=599).contains(&test.expected_status) {
        errors.push(FieldError::new(
            format!("{at}.expected_status"),
            "must be an HTTP status between 100 and 599",
        ));
    }
    errors
}

fn template_problem(template: &str) -> Option<String> {
    if !template.contains(ENV_PLACEHOLDER) {
        return Some(format!("'{template}' must contain {ENV_PLACEHOLDER}"));
    }
    let longest = render(template, Env::Prod);
    if !is_function_name(&longest) {
        return Some(format!(
            "'{template}' does not give a valid Lambda function name (1 to \
             {MAX_FUNCTION_NAME_LEN} letters, digits, hyphens or underscores)"
        ));
    }
    None
}

fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVICE_NAME_LEN
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FUNCTION_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(specs: &[&'a ServiceSpec]) -> Vec<&'a str> {
        specs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn tenant_instance_management_has_one_function_per_env() {
        let c = Catalog::runbook();
        assert_eq!(
            c.function_names("tenant-instance-management", Env::Sit),
            Ok(vec!["bbws-tenant-instance-management-sit".to_string()])
        );
    }

    #[test]
    fn site_management_moves_four_functions_together() {
        let c = Catalog::runbook();
        assert_eq!(
            c.function_names("site-management", Env::Prod),
            Ok(vec![
                "prod-bbws-sites-service".to_string(),
                "prod-bbws-templates-service".to_string(),
                "prod-bbws-plugins-service".to_string(),
                "prod-bbws-async-processor".to_string(),
            ])
        );
    }

    #[test]
    fn only_the_event_handler_has_eventbridge_rules() {
        let c = Catalog::runbook();
        let handler = c.get("ecs-event-handler").unwrap();
        assert_eq!(
            handler.function_names(Env::Dev),
            ["bbws-ecs-event-handler-dev"]
        );
        assert!(handler.has_eventbridge_rules());
        assert!(handler.owns_rule("bbws-ecs-event-handler-prod-task-state"));
        assert!(!handler.owns_rule("bbws-sites-nightly"));
        let tenant = c.get("tenant-instance-management").unwrap();
        assert!(!tenant.has_eventbridge_rules());
        assert!(!tenant.owns_rule("ecs-event-handler"));
    }

    #[test]
    fn unknown_service_lists_the_known_ones_alphabetically() {
        let err = Catalog::runbook()
            .function_names("x", Env::Dev)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown service 'x' (known: ecs-event-handler, site-management, \
             tenant-instance-management)"
        );
    }

    #[test]
    fn release_order_sorts_by_dependency_order() {
        let c = Catalog::runbook();
        let all = c
            .release_order(&[
                "site-management",
                "tenant-instance-management",
                "ecs-event-handler",
            ])
            .unwrap();
        assert_eq!(
            names(&all),
            [
                "tenant-instance-management",
                "ecs-event-handler",
                "site-management"
            ]
        );
        let waits: Vec<u64> = all.iter().map(|s| s.health_wait_seconds).collect();
        assert_eq!(waits, [300, 300, 600]);
        let two = c
            .release_order(&["site-management", "ecs-event-handler"])
            .unwrap();
        assert_eq!(names(&two), ["ecs-event-handler", "site-management"]);
    }

    #[test]
    fn release_order_rejects_unknown_repeated_and_empty() {
        let c = Catalog::runbook();
        assert!(matches!(
            c.release_order(&["site-management", "terraform-gitops"]),
            Err(CatalogError::UnknownService { name, .. }) if name == "terraform-gitops"
        ));
        assert_eq!(
            c.release_order(&["site-management", "ecs-event-handler", "site-management"]),
            Err(CatalogError::Repeated {
                name: "site-management".into()
            })
        );
        assert_eq!(c.release_order::<&str>(&[]), Err(CatalogError::Empty));
    }

    #[test]
    fn runbook_catalog_is_valid_and_round_trips_through_json() {
        let c = Catalog::runbook();
        assert_eq!(c.validate("catalog"), []);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.starts_with('['));
        assert_eq!(serde_json::from_str::<Catalog>(&json).unwrap(), c);
    }

    #[test]
    fn validation_finds_duplicate_names_and_orders() {
        let mut c = Catalog::runbook();
        c.services[1].name = "tenant-instance-management".into();
        c.services[2].release_order = 1;
        let fields: Vec<String> = c.validate("catalog").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["catalog[1].name", "catalog[2].release_order"]);
    }

    #[test]
    fn validation_checks_names_templates_and_waits() {
        let spec = ServiceSpec {
            name: "Bad_Name".into(),
            release_order: 0,
            health_wait_seconds: MAX_HEALTH_WAIT_SECONDS + 1,
            functions: vec![
                "no-placeholder".into(),
                "{env}-has space".into(),
                format!("{{env}}-{}", "x".repeat(60)),
            ],
            eventbridge_rule_contains: Some(String::new()),
            smoke_tests: vec![SmokeTest {
                function: "{env}-other".into(),
                method: "FETCH".into(),
                path: "tenants list".into(),
                expected_status: 42,
            }],
        };
        let errors = Catalog {
            services: vec![spec],
        }
        .validate("catalog");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "catalog[0].name",
                "catalog[0].release_order",
                "catalog[0].health_wait_seconds",
                "catalog[0].functions[0]",
                "catalog[0].functions[1]",
                "catalog[0].functions[2]",
                "catalog[0].eventbridge_rule_contains",
                "catalog[0].smoke_tests[0].function",
                "catalog[0].smoke_tests[0].method",
                "catalog[0].smoke_tests[0].path",
                "catalog[0].smoke_tests[0].expected_status",
            ]
        );
    }

    #[test]
    fn every_runbook_function_has_a_read_only_smoke_test() {
        for spec in &Catalog::runbook().services {
            for template in &spec.functions {
                let tests: Vec<&SmokeTest> = spec
                    .smoke_tests
                    .iter()
                    .filter(|t| &t.function == template)
                    .collect();
                assert_eq!(tests.len(), 1, "{template}");
                assert!(tests[0].is_read_only() && tests[0].expected_status == 200);
            }
        }
    }

    #[test]
    fn smoke_tests_name_the_target_functions_and_only_reads_run_in_prod() {
        let mut spec = Catalog::runbook().get("site-management").cloned().unwrap();
        spec.smoke_tests.push(SmokeTest {
            method: "POST".into(),
            ..SmokeTest::get("{env}-bbws-async-processor", "/jobs")
        });
        let sit = spec.smoke_tests_for(Env::Sit);
        assert_eq!(sit.len(), 5);
        assert_eq!(sit[0].label(), "GET /sites on sit-bbws-sites-service");
        assert_eq!(sit[4].label(), "POST /jobs on sit-bbws-async-processor");
        let prod = spec.smoke_tests_for(Env::Prod);
        assert_eq!(prod.len(), 4, "the POST does not run in PROD");
        assert!(prod.iter().all(SmokeTest::is_read_only));
        assert_eq!(prod[3].function, "prod-bbws-async-processor");
        assert_eq!(
            prod[1].request(),
            serde_json::json!({"httpMethod": "GET", "path": "/templates", "headers": {}})
        );
    }

    #[test]
    fn validation_rejects_an_empty_catalog_and_a_service_without_functions() {
        let empty = Catalog { services: vec![] };
        assert_eq!(empty.validate("catalog").len(), 1);
        let mut c = Catalog::runbook();
        c.services[0].functions.clear();
        c.services[0].smoke_tests.clear();
        let errors = c.validate("catalog");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "catalog[0].functions");
    }
}
