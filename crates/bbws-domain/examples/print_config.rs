//! Prints RB-003's configuration as JSON, the shape of the deployed promotion rules (Terraform's `promotion_config`)
//! takes: `cargo run -p bbws-domain --example print_config > events/config/runbook.json`.

fn main() {
    match bbws_domain::Config::runbook().to_json_pretty() {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("cannot serialise the runbook configuration: {e}");
            std::process::exit(1);
        }
    }
}
