//! The command line, parsed by hand: every refusal names the argument and the rule.

use bbws_domain::delivery::ReportPeriod;
use bbws_domain::Env;
use chrono::{Days, NaiveDate};

/// How many days the period covers when `--since` is not given.
pub const DEFAULT_DAYS: u64 = 28;

/// The text `--help` prints.
pub const USAGE: &str = "\
bbws-report: the auditors' command over the BBWS deployment records (bbws-deployments-<env>).

Usage:
  bbws-report metrics --env <dev|sit|prod> [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                      [--service NAME]... [--profile P] [--source-profile P]
                      [--format table|json]
  bbws-report show --env <dev|sit|prod> <execution ARN | deployment id>
                   [--format md|html|json|notes|facts] [--profile P]
  bbws-report --help

show: an execution's evidence report (RB-003 §7 checklist, sign-off, timeline), read from the
evidence bucket where its deployment record says it is: Markdown (md, default), the self-contained
HTML page (html), the report's model (json), the release notes (notes: PROD promotions and
releases) or the facts it was built from (facts).

metrics: delivery metrics per service over the period [since, until): deployments and their
frequency, lead time (into PROD), change failure rate and time to restore, with the counts behind
each figure and the definitions.

  --env             the environment whose records are read (its bbws-deployments-<env> table)
  --since           the first day (UTC) of the period; default: 28 days before --until
  --until           the day after the last (not included); default: tomorrow (UTC), so today counts
  --service         a service to report (repeat for more); default: every service of the runbook's
                    catalog
  --profile         the AWS profile of the environment's account (default: the standard chain,
                    AWS_PROFILE included); an auditor's read-only profile is enough
  --source-profile  with --env prod: the SIT account's auditor profile, to read
                    bbws-deployments-sit for the lead time (without it the lead time is unknown)
  --format          table (default: fixed-width columns) or json

Exit codes: 0 the report was printed (records that do not read are listed in it), 1 AWS refused or
could not be reached, 2 the arguments are wrong.
";

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Fixed-width columns.
    Table,
    /// The whole report as JSON.
    Json,
}

/// The arguments of `metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsArgs {
    /// The environment.
    pub env: Env,
    /// The period.
    pub period: ReportPeriod,
    /// The services named with `--service` (empty: the catalog's).
    pub services: Vec<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--source-profile`.
    pub source_profile: Option<String>,
    /// `--format`.
    pub format: Format,
}

/// A command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print the usage.
    Help,
    /// Delivery metrics.
    Metrics(MetricsArgs),
    /// An execution's evidence.
    Show(ShowArgs),
}

/// Which file of an execution's evidence `show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// report.md.
    Markdown,
    /// report.html.
    Html,
    /// report.json.
    Json,
    /// release-notes.md.
    Notes,
    /// facts.json.
    Facts,
}

impl Rendering {
    /// The file's name under the execution's prefix.
    pub fn file(self) -> &'static str {
        match self {
            Rendering::Markdown => "report.md",
            Rendering::Html => "report.html",
            Rendering::Json => "report.json",
            Rendering::Notes => "release-notes.md",
            Rendering::Facts => "facts.json",
        }
    }
}

/// The arguments of `show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowArgs {
    /// The environment whose records are read.
    pub env: Env,
    /// An execution ARN or a deployment id (`<execution name>:<outcome>`).
    pub target: String,
    /// `--format`.
    pub rendering: Rendering,
    /// `--profile`.
    pub profile: Option<String>,
}

/// Reads the arguments (without the program's name); `today` (UTC) sets the default period.
pub fn parse(args: &[String], today: NaiveDate) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("a command is needed: metrics or show (bbws-report --help says more)".into());
    };
    match command.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "metrics" => metrics(rest, today),
        "show" => show(rest),
        other => Err(format!(
            "unknown command '{other}': the commands are metrics and show (bbws-report --help says more)"
        )),
    }
}

/// The value of a `--flag value` or `--flag=value` at `args[*i]`, moving `i` past it.
fn value<'a>(args: &'a [String], i: &mut usize, flag: &str, rule: &str) -> Result<&'a str, String> {
    let arg = args.get(*i).map(String::as_str).unwrap_or_default();
    if let Some((_, v)) = arg.split_once('=') {
        *i += 1;
        return Ok(v);
    }
    match args.get(*i + 1) {
        Some(v) if !v.starts_with("--") => {
            *i += 2;
            Ok(v)
        }
        _ => Err(format!("{flag} needs a value: {rule}")),
    }
}

fn once<T>(slot: &mut Option<T>, flag: &str, v: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} is given twice: give it once"));
    }
    *slot = Some(v);
    Ok(())
}

fn date(flag: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| format!("{flag}: '{text}' is not a date: write it YYYY-MM-DD (UTC)"))
}

fn profile(flag: &str, text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(format!("{flag}: the profile name is empty"));
    }
    Ok(text.to_owned())
}

fn env_of(v: &str) -> Result<Env, String> {
    match v {
        "dev" => Ok(Env::Dev),
        "sit" => Ok(Env::Sit),
        "prod" => Ok(Env::Prod),
        other => Err(format!("--env: '{other}' is not dev, sit or prod")),
    }
}

fn show(args: &[String]) -> Result<Command, String> {
    let (mut env, mut rendering, mut profile_name, mut target) = (None, None, None, None);
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(f, _)| f);
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--env" => {
                let v = env_of(value(args, &mut i, flag, "dev, sit or prod")?)?;
                once(&mut env, flag, v)?;
            }
            "--format" => {
                let rule = "md, html, json, notes or facts";
                let v = match value(args, &mut i, flag, rule)? {
                    "md" => Rendering::Markdown,
                    "html" => Rendering::Html,
                    "json" => Rendering::Json,
                    "notes" => Rendering::Notes,
                    "facts" => Rendering::Facts,
                    other => return Err(format!("--format: '{other}' is not {rule}")),
                };
                once(&mut rendering, flag, v)?;
            }
            "--profile" => {
                let v = profile(flag, value(args, &mut i, flag, "an AWS profile name")?)?;
                once(&mut profile_name, flag, v)?;
            }
            _ if !arg.starts_with("--") => {
                if target.is_some() {
                    return Err(format!(
                        "show takes one execution ARN or deployment id: '{arg}' is a second one"
                    ));
                }
                target = Some(arg.clone());
                i += 1;
            }
            _ => {
                return Err(format!(
                    "show does not take '{arg}': it takes --env, --format, --profile and an \
                     execution ARN or deployment id"
                ))
            }
        }
    }
    let Some(env) = env else {
        return Err("--env is required: dev, sit or prod".into());
    };
    let Some(target) = target else {
        return Err(
            "show needs an execution ARN (arn:aws:states:...:execution:...) or a deployment id \
             (<execution name>:<outcome>)"
                .into(),
        );
    };
    Ok(Command::Show(ShowArgs {
        env,
        target,
        rendering: rendering.unwrap_or(Rendering::Markdown),
        profile: profile_name,
    }))
}

fn metrics(args: &[String], today: NaiveDate) -> Result<Command, String> {
    let (mut env, mut since, mut until, mut format) = (None, None, None, None);
    let (mut profile_name, mut source_profile) = (None, None);
    let mut services: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(f, _)| f);
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--env" => {
                let parsed = env_of(value(args, &mut i, flag, "dev, sit or prod")?)?;
                once(&mut env, flag, parsed)?;
            }
            "--since" | "--until" => {
                let v = date(flag, value(args, &mut i, flag, "a date, YYYY-MM-DD")?)?;
                once(
                    if flag == "--since" {
                        &mut since
                    } else {
                        &mut until
                    },
                    flag,
                    v,
                )?;
            }
            "--service" => {
                let v = value(args, &mut i, flag, "a service name")?;
                if v.trim().is_empty() {
                    return Err("--service: the service name is empty".into());
                }
                if v == "release" {
                    return Err(
                        "--service: 'release' names the release records, not a service: \
                                their phases count under each service"
                            .into(),
                    );
                }
                if !services.iter().any(|s| s == v) {
                    services.push(v.to_owned());
                }
            }
            "--profile" => {
                let v = profile(flag, value(args, &mut i, flag, "an AWS profile name")?)?;
                once(&mut profile_name, flag, v)?;
            }
            "--source-profile" => {
                let v = profile(flag, value(args, &mut i, flag, "an AWS profile name")?)?;
                once(&mut source_profile, flag, v)?;
            }
            "--format" => {
                let v = match value(args, &mut i, flag, "table or json")? {
                    "table" => Format::Table,
                    "json" => Format::Json,
                    other => return Err(format!("--format: '{other}' is not table or json")),
                };
                once(&mut format, flag, v)?;
            }
            _ => {
                return Err(format!(
                    "metrics does not take '{arg}': it takes --env, --since, --until, --service, \
                     --profile, --source-profile and --format"
                ))
            }
        }
    }
    let Some(env) = env else {
        return Err("--env is required: dev, sit or prod".into());
    };
    if source_profile.is_some() && env != Env::Prod {
        return Err(format!(
            "--source-profile goes with --env prod only: the lead time is measured into PROD from \
             SIT's records (not into {})",
            env.label()
        ));
    }
    let until = match until {
        Some(u) => u,
        None => today
            .checked_add_days(Days::new(1))
            .ok_or("--until: today has no next day")?,
    };
    let since = match since {
        Some(s) => s,
        None => until
            .checked_sub_days(Days::new(DEFAULT_DAYS))
            .ok_or("--since: the default is out of range; give --since")?,
    };
    let period = ReportPeriod::new(since, until).map_err(|_| {
        format!(
            "--until ({until}) must be later than --since ({since}): the period is [since, until)"
        )
    })?;
    Ok(Command::Metrics(MetricsArgs {
        env,
        period,
        services,
        profile: profile_name,
        source_profile,
        format: format.unwrap_or(Format::Table),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).expect("a date")
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn metrics_of(line: &str) -> MetricsArgs {
        match parse(&args(line), today()) {
            Ok(Command::Metrics(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn the_issues_example_reads_with_its_defaults() {
        let m = metrics_of("metrics --env prod --since 2026-10-01");
        assert_eq!(m.env, Env::Prod);
        assert_eq!(
            m.period,
            ReportPeriod::new(day("2026-10-01"), day("2026-11-21")).expect("period")
        );
        assert_eq!(
            (m.services.len(), m.profile, m.source_profile, m.format),
            (0, None, None, Format::Table)
        );
        // Without --since: the 28 days up to today, today included.
        let m = metrics_of("metrics --env sit");
        assert_eq!(
            m.period,
            ReportPeriod::new(day("2026-10-24"), day("2026-11-21")).expect("period")
        );
    }

    #[test]
    fn every_option_is_read_in_both_spellings() {
        let m = metrics_of(
            "metrics --format=json --env=prod --since 2025-03-01 --until=2025-04-01 --service a \
             --service=b --service a --profile auditor-prod --source-profile=auditor-sit",
        );
        assert_eq!(
            m,
            MetricsArgs {
                env: Env::Prod,
                period: ReportPeriod::new(day("2025-03-01"), day("2025-04-01")).expect("period"),
                services: vec!["a".into(), "b".into()],
                profile: Some("auditor-prod".into()),
                source_profile: Some("auditor-sit".into()),
                format: Format::Json,
            }
        );
        assert_eq!(parse(&args("--help"), today()), Ok(Command::Help));
        assert_eq!(
            parse(
                &args("show --format=html --env prod run-1:succeeded --profile a"),
                today()
            ),
            Ok(Command::Show(ShowArgs {
                env: Env::Prod,
                target: "run-1:succeeded".into(),
                rendering: Rendering::Html,
                profile: Some("a".into()),
            }))
        );
        assert_eq!(
            parse(&args("metrics --env prod --help"), today()),
            Ok(Command::Help)
        );
    }

    #[test]
    fn wrong_arguments_are_refused_naming_the_argument_and_the_rule() {
        for (line, refusal) in [
            ("", "a command is needed: metrics or show (bbws-report --help says more)"),
            ("report x", "unknown command 'report': the commands are metrics and show (bbws-report --help says more)"),
            ("show x", "--env is required: dev, sit or prod"),
            ("show --env prod", "show needs an execution ARN (arn:aws:states:...:execution:...) or a deployment id (<execution name>:<outcome>)"),
            ("show --env prod a b", "show takes one execution ARN or deployment id: 'b' is a second one"),
            ("show --env prod a --format pdf", "--format: 'pdf' is not md, html, json, notes or facts"),
            ("show --env prod a --since 2026-10-01",
             "show does not take '--since': it takes --env, --format, --profile and an execution ARN or deployment id"),
            ("metrics", "--env is required: dev, sit or prod"),
            ("metrics --env", "--env needs a value: dev, sit or prod"),
            ("metrics --env --since 2026-10-01", "--env needs a value: dev, sit or prod"),
            ("metrics --env qa", "--env: 'qa' is not dev, sit or prod"),
            ("metrics --env prod --env sit", "--env is given twice: give it once"),
            ("metrics --env prod --since 2026-13-01", "--since: '2026-13-01' is not a date: write it YYYY-MM-DD (UTC)"),
            ("metrics --env prod --until 1/10/2026", "--until: '1/10/2026' is not a date: write it YYYY-MM-DD (UTC)"),
            ("metrics --env prod --since 2026-10-01T00:00:00Z", "--since: '2026-10-01T00:00:00Z' is not a date: write it YYYY-MM-DD (UTC)"),
            ("metrics --env prod --since 2026-10-05 --until 2026-10-05",
             "--until (2026-10-05) must be later than --since (2026-10-05): the period is [since, until)"),
            ("metrics --env prod --since 2026-12-01",
             "--until (2026-11-21) must be later than --since (2026-12-01): the period is [since, until)"),
            ("metrics --env prod --service=", "--service: the service name is empty"),
            ("metrics --env prod --service release",
             "--service: 'release' names the release records, not a service: their phases count under each service"),
            ("metrics --env prod --profile=", "--profile: the profile name is empty"),
            ("metrics --env sit --source-profile auditor-dev",
             "--source-profile goes with --env prod only: the lead time is measured into PROD from SIT's records (not into SIT)"),
            ("metrics --env prod --format csv", "--format: 'csv' is not table or json"),
            ("metrics --env prod --format", "--format needs a value: table or json"),
            ("metrics --env prod --verbose",
             "metrics does not take '--verbose': it takes --env, --since, --until, --service, --profile, --source-profile and --format"),
            ("metrics --env prod prod",
             "metrics does not take 'prod': it takes --env, --since, --until, --service, --profile, --source-profile and --format"),
        ] {
            assert_eq!(parse(&args(line), today()), Err(refusal.to_owned()), "{line}");
        }
    }
}
