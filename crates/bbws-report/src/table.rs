//! The report as plain text: fixed-width columns, then the notes, the records left out and the
//! definitions.

use bbws_domain::delivery::{FailureCauses, Report, ServiceMetrics, Spread, DEFINITIONS};

/// Where the records came from: a table, how many records, how they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The table.
    pub table: String,
    /// Records read.
    pub records: usize,
    /// How: `Query on service-timestamp for N services`.
    pub how: String,
}

const WIDTH: usize = 100;

/// `60 %`, `33.3 %`.
pub fn percent(rate: f64) -> String {
    let x = rate * 100.0;
    if (x - x.round()).abs() < 0.05 {
        format!("{x:.0} %")
    } else {
        format!("{x:.1} %")
    }
}

fn spread(s: &Option<Spread>) -> String {
    s.as_ref().map_or_else(
        || "-".to_owned(),
        |s| format!("{} / {} / {}", s.median.human, s.p90.human, s.max.human),
    )
}

fn lead(m: &ServiceMetrics) -> String {
    let l = &m.lead_time;
    if !l.known {
        return "unknown".into();
    }
    format!(
        "{} ({} of {})",
        spread(&l.spread),
        l.measured,
        m.frequency.deployments
    )
}

fn failure(m: &ServiceMetrics) -> String {
    let c = &m.change_failure;
    match c.rate {
        Some(rate) => format!("{} ({} of {})", percent(rate), c.failed, c.changes),
        None => "- (0 changes)".into(),
    }
}

fn restore(m: &ServiceMetrics) -> String {
    let t = &m.time_to_restore;
    if t.failures == 0 {
        return "-".into();
    }
    format!("{} ({} of {})", spread(&t.spread), t.measured, t.failures)
}

fn causes(c: &FailureCauses) -> String {
    [
        (c.rolled_itself_back, "rolled itself back"),
        (c.failed_after_deploy, "failed after its deploy"),
        (c.release_rollback, "rolled back by its release"),
        (c.failed_watch_check, "failed watch check"),
        (c.manual_rollback, "manual rollback within 24 h"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// Columns padded to their widest cell; `right` says which are right-aligned.
fn columns(rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths = vec![0; right.len()];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .zip(right)
            .map(|((cell, &w), &r)| {
                if r {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `text` cut into lines of at most [`WIDTH`] characters after `indent`, at spaces.
fn wrapped(first: &str, text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    for word in text.split_whitespace() {
        if line.chars().count() + 1 + word.chars().count() > WIDTH && line.trim() != "" {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_owned();
        } else if !line.is_empty() && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The report as text.
pub fn render(report: &Report, read: &[Read]) -> String {
    let last_day = chrono::NaiveDate::parse_from_str(&report.until, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.pred_opt())
        .map_or_else(|| report.until.clone(), |d| d.to_string());
    let mut out = format!(
        "Delivery metrics of {}, {} to {} ({} days; {} not included)\n\n",
        report.environment.to_uppercase(),
        report.since,
        last_day,
        report.days,
        report.until
    );
    let mut rows = vec![[
        "SERVICE",
        "DEPLOYS",
        "PER WEEK",
        "PER DAY",
        "LEAD TIME median / p90 / max",
        "CHANGE FAILURE",
        "TIME TO RESTORE median / p90 / max",
        "OPEN",
        "ROLLBACKS",
    ]
    .map(str::to_owned)
    .to_vec()];
    for m in &report.services {
        rows.push(vec![
            m.service.clone(),
            m.frequency.deployments.to_string(),
            format!("{:.2}", m.frequency.per_week),
            format!("{:.2}", m.frequency.per_day),
            lead(m),
            failure(m),
            restore(m),
            m.time_to_restore.open.to_string(),
            m.rollbacks.to_string(),
        ]);
    }
    if report.services.is_empty() {
        out.push_str("No service to report.\n");
    } else {
        out.push_str(&columns(
            &rows,
            &[false, true, true, true, false, false, false, true, true],
        ));
    }
    out.push('\n');
    out.push_str(&wrapped(
        "(n of m): ",
        "lead time measured for n of m deployments; change failure: n failed of m changes; time \
         to restore measured for n of m failed changes.",
        "  ",
    ));
    let mut why: Vec<&str> = report
        .services
        .iter()
        .filter_map(|m| m.lead_time.unknown_because.as_deref())
        .collect();
    why.dedup();
    for w in why {
        out.push_str(&wrapped("Lead time unknown: ", w, "  "));
    }
    let failed: Vec<String> = report
        .services
        .iter()
        .filter(|m| m.change_failure.failed > 0)
        .map(|m| format!("{}: {}", m.service, causes(&m.change_failure.causes)))
        .collect();
    if !failed.is_empty() {
        out.push_str(&wrapped("Failed changes: ", &failed.join("; "), "  "));
    }
    let from_release: Vec<String> = report
        .services
        .iter()
        .filter(|m| m.frequency.from_release_records > 0)
        .map(|m| format!("{} {}", m.service, m.frequency.from_release_records))
        .collect();
    if !from_release.is_empty() {
        out.push_str(&wrapped(
            "Counted from release records (their own promotion record not read): ",
            &from_release.join(", "),
            "  ",
        ));
    }
    if !report.problems.is_empty() {
        out.push_str(&format!(
            "\nRecords left out ({}):\n",
            report.problems.len()
        ));
        for p in &report.problems {
            let line = format!(
                "{} {}: {}",
                p.records,
                p.deployment_id.as_deref().unwrap_or("(no deployment_id)"),
                p.problem
            );
            out.push_str(&wrapped("  ", &line, "    "));
        }
    }
    if !read.is_empty() {
        let sources: Vec<String> = read
            .iter()
            .map(|r| format!("{} ({} records, {})", r.table, r.records, r.how))
            .collect();
        out.push_str(&wrapped("\nRead: ", &sources.join("; "), "  "));
    }
    out.push_str("\nDefinitions:\n");
    for (name, _) in DEFINITIONS {
        if let Some(text) = report.definitions.get(name) {
            out.push_str(&wrapped(&format!("  {name}: "), text, "    "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::delivery::{report, RecordSet, ReportPeriod, Scope};
    use bbws_domain::Env;
    use chrono::NaiveDate;
    use serde_json::{json, Value};

    fn promote(id: &str, at: &str, outcome: &str, sha: &str) -> Value {
        json!({"deployment_id": id, "timestamp": at, "environment": "prod", "action": "promote",
               "service": "tenant-instance-management", "outcome": outcome,
               "to_version": {"af-south-1/f": "2"}, "backup_alias": "backup-20261006-084500",
               "code_sha256": [{"code_sha256": sha}]})
    }

    fn sample() -> Report {
        let prod = vec![
            promote("p1", "2026-10-03T12:00:00Z", "succeeded", "a"),
            promote("p2", "2026-10-06T09:00:00Z", "rolled_back", "b"),
            json!({"deployment_id": "bad", "action": "promote"}),
        ];
        let sit = vec![
            json!({"deployment_id": "s1", "timestamp": "2026-10-02T08:00:00Z",
            "environment": "sit", "action": "promote", "service": "tenant-instance-management",
            "outcome": "succeeded", "code_sha256": [{"code_sha256": "a"}]}),
        ];
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
        report(
            RecordSet {
                name: "bbws-deployments-prod",
                records: &prod,
            },
            Ok(RecordSet {
                name: "bbws-deployments-sit",
                records: &sit,
            }),
            &ReportPeriod::new(day("2026-10-01"), day("2026-10-15")).expect("period"),
            &Scope {
                environment: Env::Prod,
                services: Some(vec![
                    "tenant-instance-management".into(),
                    "site-management".into(),
                ]),
            },
        )
    }

    #[test]
    fn the_table_has_fixed_width_columns_with_the_counts_beside_each_figure() {
        let text = render(
            &sample(),
            &[Read {
                table: "bbws-deployments-prod".into(),
                records: 3,
                how: "Query on service-timestamp".into(),
            }],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Delivery metrics of PROD, 2026-10-01 to 2026-10-14 (14 days; 2026-10-15 not included)"
        );
        assert_eq!(
            &lines[2..5],
            [
                "SERVICE                     DEPLOYS  PER WEEK  PER DAY  LEAD TIME median / p90 / max          CHANGE FAILURE  TIME TO RESTORE median / p90 / max  OPEN  ROLLBACKS",
                "tenant-instance-management        1      0.50     0.07  1 d 4 h / 1 d 4 h / 1 d 4 h (1 of 1)  50 % (1 of 2)   15 min / 15 min / 15 min (1 of 1)      0          0",
                "site-management                   0      0.00     0.00  - (0 of 0)                            - (0 changes)   -                                      0          0",
            ]
        );
        assert!(
            text.contains("Failed changes: tenant-instance-management: 1 rolled itself back\n"),
            "{text}"
        );
        assert!(text.contains("\nRecords left out (1):\n  bbws-deployments-prod bad: no timestamp: it cannot be placed in time\n"), "{text}");
        assert!(
            text.contains(
                "\nRead: bbws-deployments-prod (3 records, Query on service-timestamp)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nDefinitions:\n  deployments: promotions into the environment"),
            "{text}"
        );
        // Below the table, the notes and definitions are cut at 100 characters.
        let notes = text.split("\n\n").skip(2).collect::<Vec<_>>().join("\n");
        let long: Vec<&str> = notes
            .lines()
            .filter(|l| l.chars().count() > WIDTH)
            .collect();
        assert!(long.is_empty(), "{long:?}");
    }

    #[test]
    #[ignore = "prints the sample table: cargo test -- --ignored --nocapture"]
    fn print_the_sample() {
        println!("{}", render(&sample(), &[]));
    }

    #[test]
    fn rates_read_as_percentages() {
        for (rate, text) in [
            (0.0, "0 %"),
            (0.6, "60 %"),
            (1.0, "100 %"),
            (0.3333, "33.3 %"),
            (0.125, "12.5 %"),
        ] {
            assert_eq!(percent(rate), text);
        }
    }
}
