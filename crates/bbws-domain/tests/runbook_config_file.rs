//! `events/config/runbook.json` is the runbook's configuration, so operators and tests that start
//! from it start from RB-003's values.

use bbws_domain::Config;

#[test]
fn the_shipped_runbook_config_file_is_the_runbook() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/config/runbook.json"
    );
    let text = std::fs::read_to_string(path).expect("events/config/runbook.json is readable");
    let config = Config::from_json(&text).expect("the file is a valid configuration");
    assert_eq!(config, Config::runbook());
}
