"""The evidence each scenario supports, item by item (RB-003 §7 checklists): the verdict the report of
that execution must give. `ticked`: the evidence shows it done and passed; `failed`: it shows it failed or
not done; `not_applicable`: another path, with the reason in the report; `open`: only a person can know it
(never ticked by default). Keys are "<checklist>: <item>" as in report.json."""
from __future__ import annotations


# A SIT -> PROD promotion that succeeded (approved by the Tech and Operations Leads, in a window, its
# 24-hour watch not yet checked, the 24-hour SIT rule configured off in the test).
PROD_PROMOTED = {
    "SIT to PROD Promotion Checklist: SIT stable for 24 hours": "open",
    "SIT to PROD Promotion Checklist: SIT error count < 5 in last 24h": "ticked",
    "SIT to PROD Promotion Checklist: SIT throttle count = 0 in last 24h": "ticked",
    "SIT to PROD Promotion Checklist: All integration tests pass in SIT": "ticked",
    "SIT to PROD Promotion Checklist: Security scan re-run passed": "ticked",
    "SIT to PROD Promotion Checklist: Maintenance window confirmed": "ticked",
    "SIT to PROD Promotion Checklist: Rollback plan documented": "ticked",
    "SIT to PROD Promotion Checklist: Change request approved": "open",
    "SIT to PROD Promotion Checklist: Tech Lead approval": "ticked",
    "SIT to PROD Promotion Checklist: Operations Lead approval": "ticked",
    "SIT to PROD Promotion Checklist: CTO approval (Emergency Deployments, §4.1.2)": "not_applicable",
    "SIT to PROD Promotion Checklist: GitHub workflow triggered: `promote-to-prod.yml`": "not_applicable",
    "SIT to PROD Promotion Checklist: Maintenance window checkbox confirmed": "ticked",
    "SIT to PROD Promotion Checklist: GitHub environment approval received": "not_applicable",
    "SIT to PROD Promotion Checklist: Pre-flight checks passed": "ticked",
    "SIT to PROD Promotion Checklist: Quality gates passed": "ticked",
    "SIT to PROD Promotion Checklist: Backup alias created": "ticked",
    "SIT to PROD Promotion Checklist: Deployment completed successfully": "ticked",
    "SIT to PROD Promotion Checklist: 5-minute error monitoring passed": "ticked",
    "SIT to PROD Promotion Checklist: PROD Lambda health check returns 200": "ticked",
    "SIT to PROD Promotion Checklist: PROD smoke tests pass (read-only)": "ticked",
    "SIT to PROD Promotion Checklist: No errors in CloudWatch (5-min window)": "ticked",
    "SIT to PROD Promotion Checklist: CloudFront distribution healthy": "open",
    "SIT to PROD Promotion Checklist: API Gateway returns expected responses": "open",
    "SIT to PROD Promotion Checklist: DynamoDB deployment record created": "ticked",
    "SIT to PROD Promotion Checklist: CloudWatch alarms not triggered": "open",
    "SIT to PROD Promotion Checklist: 1-hour check: No errors": "open",
    "SIT to PROD Promotion Checklist: 4-hour check: No errors": "open",
    "SIT to PROD Promotion Checklist: 12-hour check: No errors": "open",
    "SIT to PROD Promotion Checklist: 24-hour check: No errors": "open",
    "SIT to PROD Promotion Checklist: Customer feedback: No issues reported": "open",
}


# A DEV -> SIT promotion the Dev Lead rejected: nothing deployed.
REJECTED = {
    "DEV to SIT Promotion Checklist: All unit tests pass (80%+ coverage)": "ticked",
    "DEV to SIT Promotion Checklist: Code linting passed (ruff, black)": "ticked",
    "DEV to SIT Promotion Checklist: Type checking passed (mypy)": "ticked",
    "DEV to SIT Promotion Checklist: Security scan passed (bandit)": "ticked",
    "DEV to SIT Promotion Checklist: Integration tests pass in DEV": "ticked",
    "DEV to SIT Promotion Checklist: DEV error rate < 10 errors/hour": "ticked",
    "DEV to SIT Promotion Checklist: DEV throttle rate = 0/hour": "ticked",
    "DEV to SIT Promotion Checklist: DEV Lambda health check returns 200": "ticked",
    "DEV to SIT Promotion Checklist: Release notes documented": "open",
    "DEV to SIT Promotion Checklist: Dev Lead approval obtained": "failed",
    "DEV to SIT Promotion Checklist: GitHub workflow triggered: `promote-to-sit.yml`": "not_applicable",
    "DEV to SIT Promotion Checklist: Workflow inputs configured correctly": "ticked",
    "DEV to SIT Promotion Checklist: Pre-flight checks passed": "ticked",
    "DEV to SIT Promotion Checklist: Deployment completed successfully": "not_applicable",
    "DEV to SIT Promotion Checklist: Post-deployment verification passed": "not_applicable",
    "DEV to SIT Promotion Checklist: SIT Lambda health check returns 200": "not_applicable",
    "DEV to SIT Promotion Checklist: SIT smoke tests pass": "not_applicable",
    "DEV to SIT Promotion Checklist: No errors in CloudWatch (5-min window)": "not_applicable",
    "DEV to SIT Promotion Checklist: API Gateway returns expected responses": "not_applicable",
    "DEV to SIT Promotion Checklist: DynamoDB deployment record created": "ticked",
}


# A DEV -> SIT promotion whose /health failed right after the deploy: rolled back at once (no monitoring),
# so the rollback checklist (§7.3) joins §7.1.
ROLLED_BACK = {
    "DEV to SIT Promotion Checklist: All unit tests pass (80%+ coverage)": "ticked",
    "DEV to SIT Promotion Checklist: Code linting passed (ruff, black)": "ticked",
    "DEV to SIT Promotion Checklist: Type checking passed (mypy)": "ticked",
    "DEV to SIT Promotion Checklist: Security scan passed (bandit)": "ticked",
    "DEV to SIT Promotion Checklist: Integration tests pass in DEV": "ticked",
    "DEV to SIT Promotion Checklist: DEV error rate < 10 errors/hour": "ticked",
    "DEV to SIT Promotion Checklist: DEV throttle rate = 0/hour": "ticked",
    "DEV to SIT Promotion Checklist: DEV Lambda health check returns 200": "ticked",
    "DEV to SIT Promotion Checklist: Release notes documented": "open",
    "DEV to SIT Promotion Checklist: Dev Lead approval obtained": "ticked",
    "DEV to SIT Promotion Checklist: GitHub workflow triggered: `promote-to-sit.yml`": "not_applicable",
    "DEV to SIT Promotion Checklist: Workflow inputs configured correctly": "ticked",
    "DEV to SIT Promotion Checklist: Pre-flight checks passed": "ticked",
    "DEV to SIT Promotion Checklist: Deployment completed successfully": "ticked",
    "DEV to SIT Promotion Checklist: Post-deployment verification passed": "failed",
    "DEV to SIT Promotion Checklist: SIT Lambda health check returns 200": "failed",
    "DEV to SIT Promotion Checklist: SIT smoke tests pass": "ticked",
    "DEV to SIT Promotion Checklist: No errors in CloudWatch (5-min window)": "not_applicable",
    "DEV to SIT Promotion Checklist: API Gateway returns expected responses": "open",
    "DEV to SIT Promotion Checklist: DynamoDB deployment record created": "ticked",
    "Rollback Checklist: Incident documented": "open",
    "Rollback Checklist: Current state backed up (incident alias created)": "ticked",
    "Rollback Checklist: Rollback target version identified": "ticked",
    "Rollback Checklist: Rollback approved by": "not_applicable",
    "Rollback Checklist: Rollback command executed": "ticked",
    "Rollback Checklist: Lambda alias updated": "ticked",
    "Rollback Checklist: Health check verified": "ticked",
    "Rollback Checklist: Health endpoint returns 200": "ticked",
    "Rollback Checklist: No new errors in CloudWatch": "open",
    "Rollback Checklist: API responses correct": "open",
    "Rollback Checklist: DynamoDB rollback record created": "ticked",
    "Rollback Checklist: Root cause identified": "open",
    "Rollback Checklist: Fix developed and tested in DEV": "open",
    "Rollback Checklist: Post-mortem document created": "open",
    "Rollback Checklist: Prevention measures documented": "open",
}


# A release into SIT whose second phase failed (the completed phase kept: fix forward).
RELEASE_PHASE_FAILED = {
    "Coordinated Release Checklist: Release notes documented in GitHub Release": "open",
    "Coordinated Release Checklist: Change request ticket created (PROD only)": "not_applicable",
    "Coordinated Release Checklist: Rollback plan reviewed": "open",
    "Coordinated Release Checklist: Monitoring dashboards accessible": "open",
    "Coordinated Release Checklist: Tech Lead approval": "not_applicable",
    "Coordinated Release Checklist: Operations Lead approval": "not_applicable",
    "Coordinated Release Checklist: Dev Lead approval obtained": "ticked",
    "Coordinated Release Checklist: CTO approval (Emergency Deployments, §4.1.2)": "not_applicable",
    "Coordinated Release Checklist: Pre-flight checks passed": "ticked",
    "Coordinated Release Checklist: Every phase deployed and its health check passed": "failed",
    "Coordinated Release Checklist: Completed phases rolled back after a failed phase": "not_applicable",
    "Coordinated Release Checklist: Final Verification: every service healthy": "not_applicable",
    "Coordinated Release Checklist: Cross-service integration tests pass": "open",
    "Coordinated Release Checklist: DynamoDB deployment record created": "ticked",
}


# A manual PROD rollback to a named backup with an incident, approved by the Operations Lead.
PROD_ROLLBACK = {
    "Rollback Checklist: Incident documented": "ticked",
    "Rollback Checklist: Current state backed up (incident alias created)": "ticked",
    "Rollback Checklist: Rollback target version identified": "ticked",
    "Rollback Checklist: Rollback approved by": "ticked",
    "Rollback Checklist: Rollback command executed": "ticked",
    "Rollback Checklist: Lambda alias updated": "ticked",
    "Rollback Checklist: Health check verified": "ticked",
    "Rollback Checklist: Health endpoint returns 200": "ticked",
    "Rollback Checklist: No new errors in CloudWatch": "open",
    "Rollback Checklist: API responses correct": "open",
    "Rollback Checklist: DynamoDB rollback record created": "ticked",
    "Rollback Checklist: Root cause identified": "open",
    "Rollback Checklist: Fix developed and tested in DEV": "open",
    "Rollback Checklist: Post-mortem document created": "open",
    "Rollback Checklist: Prevention measures documented": "open",
}
