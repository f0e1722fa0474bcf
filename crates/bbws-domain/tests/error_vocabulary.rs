//! The `Bbws.*` names the state machines match on and the README documents are the enum's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bbws_domain::ErrorName;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `Bbws.<letters>` in `text` (a bare `Bbws.*` pattern names no error).
fn names_in(text: &str) -> BTreeSet<String> {
    let prefix = ["Bbws", "."].concat();
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices(&prefix) {
        let rest = &text[at + prefix.len()..];
        let letters: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        if !letters.is_empty() {
            names.insert(format!("{prefix}{letters}"));
        }
    }
    names
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn enum_names() -> BTreeSet<String> {
    ErrorName::ALL
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect()
}

#[test]
fn every_name_the_state_machines_use_is_in_the_enum() {
    let dir = repository().join("statemachine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".json"))
        .collect();
    files.sort();
    // The three definitions, and what they share: the Retry policy and the shared states.
    assert!(files.len() >= 6, "state machines in {}", dir.display());
    let known = enum_names();
    let mut used = BTreeSet::new();
    for file in &files {
        let names = names_in(&read(file));
        let unknown: Vec<&String> = names.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{} names {unknown:?}, not in ErrorName",
            file.display()
        );
        used.extend(names);
    }
    // The retried name and the caught outcomes are matched by name.
    assert!(
        used.contains(ErrorName::AwsUnavailable.as_str()),
        "{used:?}"
    );
}

#[test]
fn the_readme_documents_exactly_the_enums_names() {
    let documented = names_in(&read(&repository().join("README.md")));
    let known = enum_names();
    let unknown: Vec<&String> = documented.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "README.md names {unknown:?}, not in ErrorName"
    );
    let undocumented: Vec<&String> = known.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "README.md does not document {undocumented:?}"
    );
}

#[test]
fn names_are_read_whole_and_a_bare_pattern_is_no_name() {
    let text = [
        "\"StringMatches\": \"",
        "Bbws",
        ".*\", `",
        "Bbws",
        ".DeployFailed`",
    ]
    .concat();
    let names: Vec<String> = names_in(&text).into_iter().collect();
    assert_eq!(names, [ErrorName::DeployFailed.as_str()]);
}

#[test]
fn every_failed_stage_the_state_machines_write_is_a_stage() {
    let dir = repository().join("statemachine");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        if !path.to_string_lossy().ends_with(".asl.json") {
            continue;
        }
        let definition = rendered(&dir, &path);
        let states = definition["States"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, state) in &states {
            if state["ResultPath"] == "$.failed_stage" {
                let stage = state["Result"].as_str().unwrap_or_default();
                assert!(
                    bbws_domain::Stage::parse(stage).is_some(),
                    "{}: {name} records the stage '{stage}', which bbws_domain::Stage does not know",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "only {seen} failed stages found");
}

/// A definition as stepfunctions.tf renders it, as far as its states go: the Retry policy and the
/// shared states (with this machine's names) filled in.
fn rendered(dir: &Path, path: &Path) -> serde_json::Value {
    let machine = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".asl.json"))
        .unwrap_or_default();
    let retry = read(&dir.join("lambda-retry.json"));
    let text = read(path)
        .replace("${lambda_retry}", &retry)
        .replace("${tenant_states}", "\"(tenant)\": null")
        .replace("${shared_states}", "\"(shared)\": null");
    let mut definition: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The tenant states (a tenant execution's and a release's phase 4), with this machine's names.
    let tenant_vars: serde_json::Value =
        serde_json::from_str(&read(&dir.join("tenant-states.vars.json"))).unwrap_or_default();
    if let Some(names) = tenant_vars[machine].as_object() {
        let mut fragment = read(&dir.join("tenant-states.json")).replace("${lambda_retry}", &retry);
        for (name, value) in names {
            fragment =
                fragment.replace(&format!("${{{name}}}"), value.as_str().unwrap_or_default());
        }
        let fragment: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&fragment).unwrap_or_else(|e| panic!("tenant-states.json: {e}"));
        if let Some(states) = definition["States"].as_object_mut() {
            assert!(
                states.remove("(tenant)").is_some(),
                "{} has no ${{tenant_states}}",
                path.display()
            );
            states.extend(fragment);
        }
    }
    let vars: serde_json::Value =
        serde_json::from_str(&read(&dir.join("shared-states.vars.json"))).unwrap_or_default();
    // A machine without names in shared-states.vars.json (the watch) has no shared states.
    let Some(names) = vars[machine].as_object().cloned() else {
        return definition;
    };
    let mut shared = read(&dir.join("shared-states.json"));
    for (name, value) in names {
        shared = shared.replace(&format!("${{{name}}}"), value.as_str().unwrap_or_default());
    }
    let shared: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&shared).unwrap_or_else(|e| panic!("shared-states.json: {e}"));
    if let Some(states) = definition["States"].as_object_mut() {
        assert!(
            states.remove("(shared)").is_some(),
            "{} has no ${{shared_states}}",
            path.display()
        );
        states.extend(shared);
    }
    definition
}
