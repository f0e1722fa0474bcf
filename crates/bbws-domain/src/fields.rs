//! The generic reader of a request object (promotion, release, manual rollback): each field read
//! by its rule, every problem collected, none hidden behind the first.

use crate::catalog::Catalog;
use crate::env::Env;
use crate::errors::{join_field_errors, FieldError};
use serde::Serialize;
use serde_json::{Map, Value};

/// The longest accepted `requested_by`.
pub const MAX_EMAIL_LEN: usize = 254;
/// The longest accepted `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The most digits a `CHG-` or `INC-` ticket number may have.
pub const MAX_TICKET_DIGITS: usize = 12;

/// Every problem found in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", join_field_errors(.errors))]
pub struct InvalidRequest {
    /// The problems, in field order, unknown fields last.
    pub errors: Vec<FieldError>,
}

/// Walks one request object, collecting problems (shared with the other requests' validation).
pub(crate) struct Validator<'a> {
    pub(crate) obj: &'a Map<String, Value>,
    pub(crate) errors: Vec<FieldError>,
}

impl<'a> Validator<'a> {
    /// A validator of `input`, which must be a JSON object.
    pub(crate) fn of(input: &'a Value) -> Result<Validator<'a>, InvalidRequest> {
        match input.as_object() {
            Some(obj) => Ok(Validator {
                obj,
                errors: Vec::new(),
            }),
            None => Err(InvalidRequest {
                errors: vec![FieldError::new("request", "must be a JSON object")],
            }),
        }
    }

    pub(crate) fn fail(&mut self, field: &str, rule: impl Into<String>) {
        self.errors.push(FieldError::new(field, rule));
    }

    /// The field's value, treating `null` as absent.
    pub(crate) fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|value| !value.is_null())
    }

    /// A string field; `Ok(None)` when absent, `Err(())` (already reported) when not a string.
    pub(crate) fn optional_str(&mut self, field: &str) -> Result<Option<&'a str>, ()> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => {
                self.fail(field, "must be a string");
                Err(())
            }
        }
    }

    pub(crate) fn required_str(&mut self, field: &str) -> Option<&'a str> {
        match self.optional_str(field) {
            Ok(Some(s)) => Some(s),
            Ok(None) => {
                self.fail(field, "is required");
                None
            }
            Err(()) => None,
        }
    }

    pub(crate) fn service(&mut self, catalog: &Catalog) -> Option<String> {
        let name = self.required_str("service")?;
        match catalog.require(name) {
            Ok(spec) => Some(spec.name.clone()),
            Err(e) => {
                self.fail("service", e.to_string());
                None
            }
        }
    }

    pub(crate) fn env(&mut self, field: &str) -> Option<Env> {
        let text = self.required_str(field)?;
        Env::parse(field, text)
            .map_err(|e| self.errors.push(e))
            .ok()
    }

    pub(crate) fn requested_by(&mut self) -> Option<String> {
        let email = self.required_str("requested_by")?;
        if email.len() > MAX_EMAIL_LEN {
            self.fail(
                "requested_by",
                format!("must be at most {MAX_EMAIL_LEN} characters"),
            );
            return None;
        }
        if !looks_like_email(email) {
            self.fail(
                "requested_by",
                format!("'{email}' does not look like an email address"),
            );
            return None;
        }
        Some(email.to_owned())
    }

    pub(crate) fn reason(&mut self) -> Option<String> {
        let reason = self.required_str("reason")?.trim();
        if reason.is_empty() {
            self.fail("reason", "must not be blank");
            return None;
        }
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            self.fail(
                "reason",
                format!("must be at most {MAX_REASON_CHARS} characters (got {chars})"),
            );
            return None;
        }
        Some(reason.to_owned())
    }

    pub(crate) fn flag(&mut self, field: &str) -> Option<bool> {
        match self.get(field) {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(field, "must be true or false");
                None
            }
        }
    }

    /// Reports every field not in `allowed`.
    pub(crate) fn unknown_fields_of(&mut self, allowed: &[&str]) {
        let obj = self.obj;
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.fail(
                key,
                format!("unknown field (allowed: {})", allowed.join(", ")),
            );
        }
    }

    /// An optional ticket like `INC-123`: `Some(None)` when validly absent, `None` on a problem.
    pub(crate) fn ticket(&mut self, field: &str, prefix: &str) -> Option<Option<String>> {
        match self.optional_str(field).ok()? {
            None => Some(None),
            Some(t) if is_ticket(t, prefix) => Some(Some(t.to_owned())),
            Some(t) => {
                self.fail(field, format!("'{t}' must look like {prefix}<digits>"));
                None
            }
        }
    }
}

/// `<prefix><digits>` with 1 to [`MAX_TICKET_DIGITS`] digits.
pub(crate) fn is_ticket(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|digits| {
        (1..=MAX_TICKET_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A plain `local@domain.tld` check: no spaces, one `@`, a dotted domain of letters, digits
/// and inner hyphens, and a top-level label of at least two letters.
pub fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    is_local_part(local) && is_domain(domain)
}

fn is_local_part(local: &str) -> bool {
    const SPECIALS: &[u8] = b".!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
}

fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}
