//! Property tests of a Terraform plan's summary and the PROD destroy rule (bbws_domain::tenant) over
//! generated `terraform show -json` documents: Terraform's counts add up, every resource that is
//! deleted or replaced is named in a PROD refusal and called out elsewhere, and a plan without one
//! is never refused. `PROPTEST_CASES` runs more cases.

mod common;
use common::cases;

use bbws_domain::tenant::{destroy_verdict, ChangeKind, DestroyVerdict, PlanSummary};
use bbws_domain::Env;
use proptest::prelude::*;
use serde_json::{json, Value};

const ACTIONS: [&[&str]; 8] = [
    &["create"],
    &["update"],
    &["delete"],
    &["delete", "create"],
    &["create", "delete"],
    &["no-op"],
    &["read"],
    &["forget"],
];

/// A plan of up to 12 resources with distinct addresses and any of Terraform's action lists.
fn plan() -> impl Strategy<Value = (Value, Vec<(String, &'static [&'static str])>)> {
    prop::collection::btree_map("[a-z]{1,6}", 0..ACTIONS.len(), 0..12).prop_map(|resources| {
        let listed: Vec<(String, &'static [&'static str])> = resources
            .into_iter()
            .map(|(name, i)| (format!("module.wp.aws_ssm_parameter.{name}"), ACTIONS[i]))
            .collect();
        let changes: Vec<Value> = listed
            .iter()
            .map(|(address, actions)| json!({"address": address, "change": {"actions": actions}}))
            .collect();
        (
            json!({"format_version": "1.2", "resource_changes": changes}),
            listed,
        )
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn counts_add_up_and_every_destruction_is_named((doc, listed) in plan()) {
        let summary = PlanSummary::from_plan_json(&doc).expect("a generated plan is a plan");
        let n = |wanted: &[&[&str]]| listed.iter().filter(|(_, a)| wanted.contains(a)).count();
        let replaced = n(&[&["delete", "create"], &["create", "delete"]]);
        prop_assert_eq!(summary.add, n(&[&["create"]]) + replaced);
        prop_assert_eq!(summary.change, n(&[&["update"]]));
        prop_assert_eq!(summary.destroy, n(&[&["delete"]]) + replaced);
        prop_assert_eq!(summary.forget, n(&[&["forget"]]));
        prop_assert_eq!(summary.changes.len(), listed.len() - n(&[&["no-op"], &["read"]]));

        let destroyed: Vec<&String> = listed
            .iter()
            .filter(|(_, a)| ChangeKind::of(a).ok().flatten().is_some_and(ChangeKind::destroys))
            .map(|(address, _)| address)
            .collect();
        match destroy_verdict(Env::Prod, "tenant-001", &summary) {
            DestroyVerdict::NoDestruction => prop_assert!(destroyed.is_empty()),
            DestroyVerdict::Blocked { destructions, message } => {
                prop_assert_eq!(destructions.len(), destroyed.len());
                for address in &destroyed {
                    prop_assert!(message.contains(address.as_str()), "{} not in {}", address, message);
                }
            }
            DestroyVerdict::CallOut { .. } => prop_assert!(false, "PROD never only calls out"),
        }
        for env in [Env::Dev, Env::Sit] {
            match destroy_verdict(env, "tenant-001", &summary) {
                DestroyVerdict::NoDestruction => prop_assert!(destroyed.is_empty()),
                DestroyVerdict::CallOut { destructions } => {
                    prop_assert_eq!(destructions.len(), destroyed.len())
                }
                DestroyVerdict::Blocked { .. } => prop_assert!(false, "only PROD blocks"),
            }
        }
    }
}
