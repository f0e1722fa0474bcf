//! Renders an execution's evidence from the facts it was built from (its `facts.json`, e.g. from
//! `bbws-report show --format facts`): `cargo run -q -p bbws-domain --example render_evidence -- html
//! < facts.json` (or `md`, `json`). Useful to look at a report again after the renderings changed.

use std::io::Read;

use bbws_domain::evidence::{build, render, Facts};

fn main() -> std::process::ExitCode {
    let format = std::env::args().nth(1).unwrap_or_else(|| "html".to_owned());
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("render_evidence: cannot read the facts from stdin: {e}");
        return std::process::ExitCode::from(2);
    }
    let facts: Facts = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("render_evidence: stdin is not the facts of an execution: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let report = build(&facts);
    match format.as_str() {
        "html" => print!("{}", render::html(&report)),
        "md" => print!("{}", render::markdown(&report)),
        "json" => print!("{}", render::json(&report)),
        other => {
            eprintln!("render_evidence: '{other}' is not html, md or json");
            return std::process::ExitCode::from(2);
        }
    }
    std::process::ExitCode::SUCCESS
}
