//! What the property tests share.

use proptest::test_runner::Config as ProptestConfig;

/// `cases` unless `PROPTEST_CASES` asks for more; no failure files written into the tree.
pub fn cases(cases: u32) -> ProptestConfig {
    let wanted = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases: wanted.max(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
