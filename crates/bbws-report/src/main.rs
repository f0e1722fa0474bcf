//! `bbws-report`: the auditors' command over the BBWS deployment records.
//!
//! `bbws-report metrics --env prod --since 2026-10-01` reads `bbws-deployments-<env>` (a Query per
//! service on its service-timestamp index) with the caller's AWS profile, and for PROD the SIT
//! account's `bbws-deployments-sit` through `--source-profile` (the lead time), then prints the
//! delivery metrics of bbws_domain::delivery as a table or JSON. `bbws-report --help` lists the
//! arguments.
//!
//! `bbws-report show --env prod <execution ARN | deployment id> [--format md|html|json|notes|facts]`
//! prints one execution's evidence: the record (GetItem) says where, the evidence bucket has it.
//!
//! Exit codes: 0 printed; 1 AWS refused, failed or could not be reached; 2 wrong arguments.

mod account;
mod args;
mod records;
mod show;
mod table;

use std::process::ExitCode;

use bbws_domain::delivery::{report, RecordSet, Report, Scope};
use bbws_domain::naming::deployments_table;
use bbws_domain::{Config, Env};
use chrono::{Days, Utc};
use serde_json::{json, Value};

use args::{Command, Format, MetricsArgs};
use records::Bound;
use table::Read;

/// AWS refused a call, failed, or could not be reached.
const EXIT_AWS: u8 = 1;
/// The arguments are wrong.
const EXIT_USAGE: u8 = 2;

/// The pseudo-service release records are kept under (their phases name the services).
const RELEASE_RECORDS: &str = "release";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut argv = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(raw) => {
                eprintln!(
                    "bbws-report: argument {} ({}) is not valid UTF-8",
                    i + 1,
                    raw.to_string_lossy()
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    match args::parse(&argv, Utc::now().date_naive()) {
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Show(a)) => printed(show(&a).await),
        Ok(Command::Metrics(m)) => printed(metrics(&m).await),
        Err(refusal) => {
            eprintln!("bbws-report: {refusal}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// What a command printed (exit 0), or why it could not (on stderr, exit [`EXIT_AWS`]).
fn printed(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bbws-report: {message}");
            ExitCode::from(EXIT_AWS)
        }
    }
}

/// The credentials a profile (or the standard chain) names, in words.
fn who(profile: &Option<String>) -> String {
    profile.as_deref().map_or_else(
        || "the standard AWS chain".to_owned(),
        |p| format!("profile {p}"),
    )
}

/// An execution's evidence, as `show` asks.
async fn show(a: &args::ShowArgs) -> Result<String, String> {
    let aws = account::account(a.profile.as_deref()).await;
    account::check_credentials(&aws, &who(&a.profile)).await?;
    show::show(&aws, a).await
}

/// The services to read: those named, else the runbook catalog's in release order.
fn services(m: &MetricsArgs) -> Vec<String> {
    if !m.services.is_empty() {
        return m.services.clone();
    }
    let mut catalog = Config::runbook().catalog.services;
    catalog.sort_by_key(|s| s.release_order);
    catalog.into_iter().map(|s| s.name).collect()
}

/// Reads `services` from `table`, each within `bound`; the records and how they were read.
async fn read_table(
    aws: &bbws_aws::Aws,
    table: &str,
    services: &[String],
    bound: &Bound,
) -> Result<(Vec<Value>, Read), String> {
    let ddb = aws.dynamodb();
    let mut all = Vec::new();
    for service in services {
        let records = records::of_service(&ddb, table, service, bound)
            .await
            .map_err(|e| format!("{} ({})", e.message, e.error_type))?;
        all.extend(records);
    }
    let how = format!("Query on service-timestamp for {} services", services.len());
    let read = Read {
        table: table.to_owned(),
        records: all.len(),
        how,
    };
    Ok((all, read))
}

/// The delivery metrics, printed as asked.
async fn metrics(m: &MetricsArgs) -> Result<String, String> {
    let names = services(m);
    let target_table = deployments_table(m.env);
    let target_account = account::account(m.profile.as_deref()).await;
    account::check_credentials(&target_account, &who(&m.profile)).await?;
    // From a day before the period (records are compared as text; a day covers any offset), with
    // no end: a rollback or restore after the period still belongs to a change in it.
    let from = m
        .period
        .since
        .checked_sub_days(Days::new(1))
        .unwrap_or(m.period.since)
        .format("%Y-%m-%d")
        .to_string();
    let mut with_releases = names.clone();
    with_releases.push(RELEASE_RECORDS.to_owned());
    let (target, target_read) = read_table(
        &target_account,
        &target_table,
        &with_releases,
        &Bound::From(from),
    )
    .await?;
    let mut read = vec![target_read];

    let source_table = deployments_table(Env::Sit);
    let source: Result<Vec<Value>, String> = match (m.env, &m.source_profile) {
        (Env::Prod, Some(profile)) => {
            let sit = account::account(Some(profile)).await;
            account::check_credentials(&sit, &format!("--source-profile {profile}")).await?;
            // Every SIT record up to a day after the period: a package may have left DEV long
            // before.
            let before = m
                .period
                .until
                .checked_add_days(Days::new(1))
                .unwrap_or(m.period.until)
                .format("%Y-%m-%d")
                .to_string();
            let (records, source_read) =
                read_table(&sit, &source_table, &names, &Bound::Before(before)).await?;
            read.push(source_read);
            Ok(records)
        }
        (Env::Prod, None) => Err(format!(
            "{source_table} was not read: give --source-profile with the SIT account's auditor \
             profile"
        )),
        (Env::Sit, _) => Err(
            "measured into PROD only: a package's first promotion out of DEV, the closest \
             evidence of its deploy into DEV, is the SIT deployment itself"
                .into(),
        ),
        (Env::Dev, _) => Err("measured into PROD only: nothing is promoted into DEV".into()),
    };
    let scope = Scope {
        environment: m.env,
        services: Some(names.clone()),
    };
    let result = report(
        RecordSet {
            name: &target_table,
            records: &target,
        },
        source
            .as_ref()
            .map(|records| RecordSet {
                name: &source_table,
                records,
            })
            .map_err(Clone::clone),
        &m.period,
        &scope,
    );
    Ok(match m.format {
        Format::Table => table::render(&result, &read),
        Format::Json => json_of(&result, &read),
    })
}

/// The report as JSON, with what was read.
fn json_of(report: &Report, read: &[Read]) -> String {
    let mut value = serde_json::to_value(report).unwrap_or_else(
        |e| json!({"error": format!("the report could not be written as JSON: {e}")}),
    );
    value["read"] = read
        .iter()
        .map(|r| json!({"table": r.table, "records": r.records, "how": r.how}))
        .collect();
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_else(|e| e.to_string());
    text.push('\n');
    text
}
