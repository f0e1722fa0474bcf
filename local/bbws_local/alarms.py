"""CloudWatch metric alarms, evaluated as CloudWatch evaluates them (moto stores alarms and never moves them).

What an evaluation does, for a static-threshold metric alarm (one metric, `Statistic` or a percentile
`ExtendedStatistic`, one of the four threshold comparisons):
 1. The datapoints: the alarm's metric, with exactly its dimensions (and its unit, if it has one), cut
    into periods that end at the last whole minute (periods of 10, 20 or 30 s: at the last whole period),
    each period's statistic one datapoint. CloudWatch reads an *evaluation range* longer than
    EvaluationPeriods (N); the estate reads N + 2 periods (AWS's own count depends on the period and the
    resolution and is not documented).
 2. The decision, as AWS documents it (`decide`): with at least N real datapoints in the range, the N
    most recent real ones decide (ALARM when DatapointsToAlarm (M) of them breach) and TreatMissingData
    plays no part. With fewer, the missing ones are filled as few times as possible: `breaching` and
    `notBreaching` fill with breaching or good points; `ignore` keeps the current state unless the real
    points decide either way; `missing` goes to INSUFFICIENT_DATA when the whole range is missing, else
    decides on the real points, and goes to ALARM early when the oldest breaching point is at least M
    periods old and every later point breaches or is missing (AWS's "premature transition" rule).
 3. A change of state (`transition`) records the reason (AWS's "Threshold Crossed: ..." sentences) and its
    StateReasonData, a StateUpdate history item, and runs the new state's actions when ActionsEnabled:
    an SNS topic of the alarm's region is published to as CloudWatch does (the JSON message, and the
    text CloudWatch sends to email endpoints), once the topic's policy and, for an encrypted topic, the
    key's policy allow the CloudWatch service principal (aws:SourceAccount, aws:SourceArn of the alarm);
    each action leaves an Action history item, "Successfully executed action ..." or "Failed to execute
    action ...".

When: a background thread evaluates every alarm every EVALUATION_SECONDS of the estate's clock (scaled by
BBWS_LOCAL_TIME_SCALE), and `POST /_local/alarms/evaluate` evaluates on demand, optionally as of a later
time (`at`, epoch seconds), as if that much time had passed with no other data. An alarm is never
evaluated at a time before the last time it was evaluated at, so one moved ahead stays there until the
clock catches up.

Not evaluated (their state stays as it is, INSUFFICIENT_DATA for a new alarm): metric math alarms
(`Metrics`), anomaly detection bands, composite alarms. Actions other than SNS fail with an Action history
item.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

LOG = logging.getLogger("bbws_local.alarms")

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT)
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
# CloudWatch evaluates standard-resolution alarms every minute; the estate looks more often (a change
# can only show at a minute's end or when data arrives, so this moves no transition earlier than the
# minute it belongs to).
EVALUATION_SECONDS = 10.0
EXTRA_PERIODS = 2  # the evaluation range is N + EXTRA_PERIODS periods

COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

# The names CloudWatch gives regions in its notifications.
REGION_NAMES = {
    "af-south-1": "Africa (Cape Town)",
    "eu-west-1": "EU (Ireland)",
    "us-east-1": "US East (N. Virginia)",
}


# ---------------------------------------------------------------------------------------------------
# The decision (pure)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What an evaluation needs of an alarm."""

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    statistic: str  # Sum, Average, ... or a percentile pNN(.N)
    treat_missing: str = "missing"

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][1](value, self.threshold)

    @property
    def words(self) -> str:
        return COMPARISONS[self.comparison][0]


@dataclass(frozen=True)
class Decision:
    state: str | None  # None: keep the current state (ignore)
    reason: str
    # The datapoints that decided, newest first: (period start, value or None for a filled one).
    evaluated: tuple[tuple[float, float | None], ...]
    recent: tuple[float | None, ...]  # the range's values, newest first


def _number(v: float) -> str:
    return repr(float(v))


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _points(points: Iterable[tuple[float, float | None]]) -> str:
    return ", ".join(f"{_number(v)} ({_stamp(t)})" for t, v in points if v is not None)


def decide(values: list[float | None], starts: list[float], rule: Rule, current: str) -> Decision:
    """The state an alarm goes to, from its evaluation range (`values`, oldest first, None = missing;
    `starts` the periods' start times) and its current state."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    rng = list(zip(starts, values))
    recent = tuple(v for v in reversed(values))
    real = [(t, v) for t, v in rng if v is not None]
    word = rule.words
    threshold = _number(rule.threshold)

    def crossed(points: list[tuple[float, float | None]], breaching: int, state: str, filled: int = 0,
                fill_as: str = "") -> Decision:
        newest_first = tuple(reversed(points))
        shown = [p for p in newest_first if p[1] is not None and (rule.breaches(p[1]) == (state == ALARM))]
        count = len(points)
        if state == ALARM:
            head = (f"{breaching} datapoint{'s' if breaching != 1 else ''}" if count == 1 or breaching == count
                    else f"{breaching} out of the last {count} datapoints")
            verb = "was" if breaching == 1 and count == 1 else "were"
            text = f"Threshold Crossed: {head} [{_points(shown)}] {verb} {word} the threshold ({threshold})"
            if m < n:
                text += f" (minimum {m} datapoint{'s' if m != 1 else ''} for OK -> ALARM transition)"
        else:
            good = count - breaching
            head = (f"{good} datapoint{'s' if good != 1 else ''}" if count == 1 or good == count
                    else f"{good} out of the last {count} datapoints")
            verb = "was" if good == 1 and count == 1 else "were"
            text = f"Threshold Crossed: {head} [{_points(shown)}] {verb} not {word} the threshold ({threshold})"
            if m < n:
                text += f" (minimum {n - m + 1} datapoint{'s' if n - m + 1 != 1 else ''} for ALARM -> OK transition)"
        if filled:
            plural = filled != 1
            text += (f" and {filled} missing datapoint{'s' if plural else ''} {'were' if plural else 'was'} "
                     f"treated as [{fill_as}]")
        if not shown and filled:
            text = (f"Threshold Crossed: no datapoints were received for {filled} period"
                    f"{'s' if filled != 1 else ''} and {filled} missing datapoint{'s' if filled != 1 else ''} "
                    f"{'were' if filled != 1 else 'was'} treated as [{fill_as}].")
        elif not text.endswith("."):
            text += "."
        return Decision(state, text, newest_first, recent)

    if len(real) >= n:
        considered = real[-n:]
        breaching = sum(1 for _, v in considered if rule.breaches(v))  # type: ignore[arg-type]
        return crossed(considered, breaching, ALARM if breaching >= m else OK)

    need = n - len(real)
    real_breaching = sum(1 for _, v in real if rule.breaches(v))  # type: ignore[arg-type]
    # The missing slots used: the most recent ones, as few as the rule needs.
    missing_slots = [(t, None) for t, v in rng if v is None][-need:] if need else []
    considered = sorted(real + missing_slots, key=lambda p: p[0])
    tm = rule.treat_missing if rule.treat_missing in TREAT_MISSING else "missing"
    if tm == "breaching":
        breaching = real_breaching + need
        return crossed(considered, breaching, ALARM if breaching >= m else OK, need, "Breaching")
    if tm == "notBreaching":
        return crossed(considered, real_breaching, ALARM if real_breaching >= m else OK, need, "NonBreaching")
    if tm == "ignore":
        if real_breaching >= m:
            return crossed(considered, real_breaching, ALARM)
        if real_breaching + need < m:
            return crossed(considered, real_breaching, OK)
        return Decision(None, "", tuple(reversed(considered)), recent)
    # missing
    if not real:
        plural = "s" if len(values) != 1 else ""
        return Decision(INSUFFICIENT,
                        f"Insufficient Data: {len(values)} datapoint{plural} {'were' if plural else 'was'} unknown.",
                        (), recent)
    if real_breaching >= m:
        return crossed(real, real_breaching, ALARM)
    # AWS's rule against premature transitions: one breaching point, old enough, and nothing good since.
    ages = len(values)
    for i, (t, v) in enumerate(rng):
        if v is not None and rule.breaches(v):
            age = ages - i
            later = [w for _, w in rng[i + 1:]]
            if age >= m and all(w is None or rule.breaches(w) for w in later):
                breaching = sum(1 for w in [v] + later if w is not None)
                return crossed([p for p in rng[i:] if p[1] is not None], breaching, ALARM)
            break
    return crossed(real, real_breaching, OK)


def statistic(values: list[tuple[float, float, float, float]], stat: str) -> float | None:
    """One period's statistic from (sum, sample count, minimum, maximum) tuples (a single value is
    (v, 1, v, v)); a percentile (pNN) from the single values, nearest rank."""
    if not values:
        return None
    total = sum(v[0] for v in values)
    count = sum(v[1] for v in values)
    if stat == "Sum":
        return total
    if stat == "SampleCount":
        return count
    if stat == "Average":
        return total / count if count else None
    if stat == "Minimum":
        return min(v[2] for v in values)
    if stat == "Maximum":
        return max(v[3] for v in values)
    if stat.startswith("p"):
        try:
            pct = float(stat[1:])
        except ValueError:
            return None
        singles = sorted(v[0] for v in values if v[1] == 1)
        if not singles or not 0 <= pct <= 100:
            return None
        rank = max(1, math.ceil(pct / 100.0 * len(singles)))
        return singles[rank - 1]
    return None


def period_starts(at: float, period: int, count: int) -> list[float]:
    """The starts of the `count` periods an evaluation at `at` reads, oldest first: they end at the last
    whole minute (the last whole period for periods under a minute)."""
    step = 60 if period >= 60 else period
    end = math.floor(at / step) * step
    return [end - (count - i) * period for i in range(count)]


# ---------------------------------------------------------------------------------------------------
# Alarms of moto's backends
# ---------------------------------------------------------------------------------------------------


def rule_of(alarm: Any) -> Rule | None:
    """The alarm's rule, or None for an alarm the estate does not evaluate."""
    if getattr(alarm, "rule", None) or getattr(alarm, "metric_data_queries", None):
        return None
    if getattr(alarm, "threshold_metric_id", None) or alarm.comparison_operator not in COMPARISONS:
        return None
    stat = alarm.statistic or alarm.extended_statistic
    if not stat or (stat not in STATISTICS and not str(stat).startswith("p")):
        return None
    if not alarm.namespace or not alarm.metric_name or not alarm.period or alarm.threshold is None:
        return None
    n = int(alarm.evaluation_periods)
    return Rule(period=int(alarm.period), evaluation_periods=n,
                datapoints_to_alarm=int(alarm.datapoints_to_alarm or n),
                comparison=alarm.comparison_operator, threshold=float(alarm.threshold), statistic=str(stat),
                treat_missing=alarm.treat_missing_data or "missing")


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int((t % 1) * 1000):03d}+0000"


def _now_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)  # moto keeps naive UTC times


class MetricIndex:
    """One backend's datapoints by (namespace, name, exact dimension set), kept up to date incrementally
    (moto only appends to `metric_data`), so an alarm evaluation and a GetMetricStatistics read their own
    series instead of every datapoint."""

    def __init__(self) -> None:
        self.cursor = 0
        self.series: dict[tuple[str, str, frozenset], list[tuple[float, Any]]] = {}

    @staticmethod
    def _key(namespace: str, name: str, dimensions: Iterable[tuple[str, Any]]) -> tuple[str, str, frozenset]:
        return (namespace, name, frozenset(dimensions))

    def update(self, data: list[Any]) -> None:
        if len(data) < self.cursor:  # the backend was reset
            self.cursor, self.series = 0, {}
        for md in data[self.cursor:]:
            key = self._key(md.namespace, md.name, ((d.name, d.value) for d in md.dimensions))
            self.series.setdefault(key, []).append((_epoch(md.timestamp), md))
        self.cursor = len(data)

    def points(self, namespace: str, name: str, dimensions: Iterable[tuple[str, Any]]) -> list[tuple[float, Any]]:
        """The (epoch, datapoint) pairs of one series: its exact dimension set, (name, value) pairs in any
        order."""
        return self.series.get(self._key(namespace, name, dimensions), [])

    def values(self, alarm: Any, start: float, end: float) -> list[tuple[float, float, float, float]]:
        series = self.points(alarm.namespace, alarm.metric_name, ((d.name, d.value) for d in alarm.dimensions))
        out = []
        for t, md in series:
            if not (start <= t < end):
                continue
            if alarm.unit and getattr(md, "unit", None) != alarm.unit:
                continue
            if hasattr(md, "value"):
                out.append((float(md.value), 1.0, float(md.value), float(md.value)))
            else:
                out.append((float(md.sum), float(md.sample_count), float(md.min), float(md.max)))
        return out


_INDEX_LOCK = threading.Lock()


def metric_index(backend: Any) -> MetricIndex:
    """The CloudWatch backend's index, brought up to date: one per backend, read by the alarm evaluation
    and by GetMetricStatistics (patches.py, cloudwatch-dimensions)."""
    with _INDEX_LOCK:
        index = backend.__dict__.get("_bbws_metric_index")
        if index is None:
            index = backend._bbws_metric_index = MetricIndex()
        index.update(backend.metric_data)
        return index


@dataclass
class HistoryItem:
    alarm_name: str
    alarm_type: str
    timestamp: float
    item_type: str  # ConfigurationUpdate | StateUpdate | Action
    summary: str
    data: dict[str, Any]

    def as_aws(self) -> dict[str, Any]:
        return {"AlarmName": self.alarm_name, "AlarmType": self.alarm_type,
                "Timestamp": _now_dt(self.timestamp), "HistoryItemType": self.item_type,
                "HistorySummary": self.summary, "HistoryData": json.dumps(self.data)}


class Alarms:
    """The estate's alarm evaluation: history, transitions, actions, the background thread."""

    HISTORY_LIMIT = 10_000  # per account and region

    def __init__(self, time_scale: float = 1.0,
                 authorize: Callable[[Any, str, str], str | None] | None = None) -> None:
        self.time_scale = time_scale
        # (alarm, action ARN, topic) -> None when allowed, else the error CloudWatch reports.
        self.authorize = authorize
        self.lock = threading.RLock()
        self.history: dict[tuple[str, str], list[HistoryItem]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    # -- history -----------------------------------------------------------------------------------
    def record(self, account: str, region: str, item: HistoryItem) -> None:
        with self.lock:
            items = self.history.setdefault((account, region), [])
            items.append(item)
            del items[:-self.HISTORY_LIMIT]

    def items(self, account: str, region: str) -> list[HistoryItem]:
        with self.lock:
            return list(self.history.get((account, region), []))

    def configured(self, account: str, region: str, alarm: Any, created: bool, at: float | None = None) -> None:
        at = time.time() if at is None else at
        word = "created" if created else "updated"
        self.record(account, region, HistoryItem(
            alarm.name, "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm", at,
            "ConfigurationUpdate", f'Alarm "{alarm.name}" {word}',
            {"version": "1.0", "type": "Create" if created else "Update",
             ("createdAlarm" if created else "updatedAlarm"): describe(alarm)}))

    # -- transitions -------------------------------------------------------------------------------
    def transition(self, account: str, region: str, alarm: Any, state: str, reason: str,
                   reason_data: str | None, at: float | None = None) -> None:
        """Move an alarm to `state` (also for SetAlarmState): reason, history, and the state's actions
        when the state value changed."""
        at = time.time() if at is None else at
        self._run_actions(self._change(account, region, alarm, state, reason, reason_data, at))

    def _run_actions(self, pending: list[tuple[Any, ...]]) -> None:
        # Outside the lock: a subscriber of the topic may itself call CloudWatch.
        for args in pending:
            self._act(*args)

    def _change(self, account: str, region: str, alarm: Any, state: str, reason: str,
                reason_data: str | None, at: float) -> list[tuple[Any, ...]]:
        """The change itself, under the lock; the actions to run afterwards."""
        with self.lock:
            old_state, old_reason = alarm.state_value, alarm.state_reason
            alarm.state_reason = reason
            alarm.state_reason_data = reason_data
            alarm.state_value = state
            alarm.state_updated_timestamp = _now_dt(at)
            changed = old_state != state
            if changed or getattr(alarm, "state_transitioned_timestamp", None) is None:
                alarm.state_transitioned_timestamp = _now_dt(at)
            new: dict[str, Any] = {"stateValue": state, "stateReason": reason}
            if reason_data:
                try:
                    new["stateReasonData"] = json.loads(reason_data)
                except ValueError:
                    new["stateReasonData"] = reason_data
            self.record(account, region, HistoryItem(
                alarm.name, "MetricAlarm", at, "StateUpdate", f"Alarm updated from {old_state} to {state}",
                {"version": "1.0", "oldState": {"stateValue": old_state, "stateReason": old_reason},
                 "newState": new}))
        if not (changed and alarm.actions_enabled):
            return []
        actions = {OK: alarm.ok_actions, ALARM: alarm.alarm_actions,
                   INSUFFICIENT: alarm.insufficient_data_actions}[state] or []
        return [(account, region, alarm, arn, old_state, state, reason, at) for arn in actions]

    def _act(self, account: str, region: str, alarm: Any, arn: str, old: str, new: str, reason: str,
             at: float) -> None:
        error, message_id, message = None, None, None
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            error = f"the local estate runs SNS actions only, not {arn}"
        else:
            from moto.sns.models import sns_backends

            topic = None
            try:
                topic = sns_backends[parts[4]][parts[3]].get_topic(arn)
            except Exception:
                error = f"Resource not found: {arn}"
            if topic is not None and self.authorize is not None:
                error = self.authorize(alarm, arn, topic)
            if error is None and topic is not None:
                subject, message, text = notification(account, region, alarm, old, new, reason, at)
                try:
                    message_id = topic.publish(json.dumps({"default": message, "email": text}),
                                               subject=subject, message_structure="json")
                except Exception as e:  # a subscriber's failure is the topic's, not the alarm's
                    LOG.exception("publishing %s's notification to %s failed", alarm.name, arn)
                    error = f"{type(e).__name__}: {e}"
        if error is None:
            LOG.info("alarm %s (%s %s): %s -> %s, notified %s", alarm.name, account, region, old, new, arn)
            data = {"actionState": "Succeeded", "stateUpdateTimestamp": int(at * 1000),
                    "notificationResource": arn,
                    "publishedMessage": {"messageId": message_id, "message": message}}
            summary = f"Successfully executed action {arn}"
        else:
            LOG.info("alarm %s (%s %s): action %s failed: %s", alarm.name, account, region, arn, error)
            data = {"actionState": "Failed", "stateUpdateTimestamp": int(at * 1000),
                    "notificationResource": arn, "error": error}
            summary = f"Failed to execute action {arn}. Received error: \"{error}\""
        # Recorded just after the state change it follows, as CloudWatch lists them.
        self.record(account, region, HistoryItem(alarm.name, "MetricAlarm", at + 0.001, "Action", summary, data))

    # -- evaluation --------------------------------------------------------------------------------
    def evaluate_alarm(self, account: str, region: str, backend: Any, alarm: Any, at: float) -> str | None:
        """Evaluate one alarm as of `at` (never before its last evaluation); its state afterwards, or None
        when the estate does not evaluate this kind of alarm."""
        rule = rule_of(alarm)
        if rule is None:
            return None
        with self.lock:
            at = max(at, getattr(alarm, "bbws_evaluated_at", 0.0))
            alarm.bbws_evaluated_at = at
            index = metric_index(backend)
            count = rule.evaluation_periods + EXTRA_PERIODS
            starts = period_starts(at, rule.period, count)
            values = [statistic(index.values(alarm, s, s + rule.period), rule.statistic) for s in starts]
            d = decide(values, starts, rule, alarm.state_value)
            if d.state is None or d.state == alarm.state_value:
                return alarm.state_value  # no transition: no new reason, no history, no action
            data = {"version": "1.0", "queryDate": _iso(at), "startDate": _iso(starts[0]),
                    "statistic": rule.statistic, "period": rule.period,
                    "recentDatapoints": [v for v in d.recent if v is not None],
                    "threshold": rule.threshold,
                    "evaluatedDatapoints": [{"timestamp": _iso(t), **({"value": v} if v is not None else {})}
                                            for t, v in d.evaluated]}
            if alarm.unit:
                data["unit"] = alarm.unit
            pending = self._change(account, region, alarm, d.state, d.reason, json.dumps(data), at)
        self._run_actions(pending)
        return alarm.state_value

    def evaluate(self, at: float | None = None, account: str | None = None, region: str | None = None,
                 names: list[str] | None = None) -> list[dict[str, Any]]:
        """Evaluate the alarms (all, or those of one account, region, names) as of `at` (default now)."""
        from moto.cloudwatch.models import cloudwatch_backends

        at = time.time() if at is None else at
        out = []
        for acct in list(cloudwatch_backends.keys()):
            if account and acct != account:
                continue
            regions = cloudwatch_backends[acct]
            for reg in list(regions.keys()):
                if region and reg != region:
                    continue
                backend = regions[reg]
                for alarm in list(backend.alarms.values()):
                    if names and alarm.name not in names:
                        continue
                    try:
                        state = self.evaluate_alarm(acct, reg, backend, alarm, at)
                    except Exception:
                        LOG.exception("evaluating alarm %s in %s %s failed", alarm.name, acct, reg)
                        continue
                    out.append({"account": acct, "region": reg, "alarm": alarm.name,
                                "evaluated": state is not None, "state": alarm.state_value,
                                "reason": alarm.state_reason,
                                "evaluated_at": getattr(alarm, "bbws_evaluated_at", None)})
        return out

    # -- the background evaluator ------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return max(0.5, EVALUATION_SECONDS * self.time_scale)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except Exception:
                LOG.exception("alarm evaluation failed")
            self.ticks += 1
            self._wake.wait(self.interval)
            self._wake.clear()


def describe(alarm: Any) -> dict[str, Any]:
    """The alarm's configuration as CloudWatch writes it into history and notifications."""
    return {
        "alarmName": alarm.name, "alarmArn": alarm.alarm_arn, "alarmDescription": alarm.description,
        "actionsEnabled": alarm.actions_enabled, "okActions": list(alarm.ok_actions or []),
        "alarmActions": list(alarm.alarm_actions or []),
        "insufficientDataActions": list(alarm.insufficient_data_actions or []),
        "metricName": alarm.metric_name, "namespace": alarm.namespace, "statistic": alarm.statistic,
        "extendedStatistic": alarm.extended_statistic,
        "dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
        "period": alarm.period, "unit": alarm.unit, "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm, "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator, "treatMissingData": alarm.treat_missing_data,
    }


def _long_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%A %d %B, %Y %H:%M:%S UTC")


def notification(account: str, region: str, alarm: Any, old: str, new: str, reason: str,
                 at: float) -> tuple[str, str, str]:
    """(subject, JSON document, text) of CloudWatch's SNS notification: published with MessageStructure
    json, the document for every protocol but email, which gets CloudWatch's text."""
    region_name = REGION_NAMES.get(region, region)
    stat = alarm.statistic or alarm.extended_statistic
    doc = {
        "AlarmName": alarm.name, "AlarmDescription": alarm.description, "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _iso(_epoch(alarm.configuration_updated_timestamp)),
        "NewStateValue": new, "NewStateReason": reason, "StateChangeTime": _iso(at), "Region": region_name,
        "AlarmArn": alarm.alarm_arn, "OldStateValue": old, "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": {
            "MetricName": alarm.metric_name, "Namespace": alarm.namespace,
            "StatisticType": "Statistic" if alarm.statistic else "ExtendedStatistic",
            "Statistic": str(stat).upper() if alarm.statistic else None,
            "ExtendedStatistic": alarm.extended_statistic, "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator, "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing", "EvaluateLowSampleCountPercentile": "",
        },
    }
    if not alarm.extended_statistic:
        del doc["Trigger"]["ExtendedStatistic"]
    dims = " ".join(f"[{d.name} = {d.value}]" for d in alarm.dimensions)
    n = alarm.evaluation_periods
    m = alarm.datapoints_to_alarm or n
    text = "\n".join([
        f'You are receiving this email because your Amazon CloudWatch Alarm "{alarm.name}" in the {region_name} '
        f'region has entered the {new} state, because "{reason}" at "{_long_time(at)}".',
        "",
        "View this alarm in the AWS Management Console:",
        f"https://{region}.console.aws.amazon.com/cloudwatch/deeplink.js?region={region}#alarmsV2:alarm/{alarm.name}",
        "",
        "Alarm Details:",
        f"- Name:                       {alarm.name}",
        f"- Description:                {alarm.description or ''}",
        f"- State Change:               {old} -> {new}",
        f"- Reason for State Change:    {reason}",
        f"- Timestamp:                  {_long_time(at)}",
        f"- AWS Account:                {account}",
        f"- Alarm Arn:                  {alarm.alarm_arn}",
        "",
        "Threshold:",
        f"- The alarm is in the ALARM state when the metric is {alarm.comparison_operator} {_number(alarm.threshold)} "
        f"for at least {m} of the last {n} period(s) of {alarm.period} seconds.",
        "",
        "Monitored Metric:",
        f"- MetricNamespace:                     {alarm.namespace}",
        f"- MetricName:                          {alarm.metric_name}",
        f"- Dimensions:                          {dims}",
        f"- Period:                              {alarm.period} seconds",
        f"- Statistic:                           {stat}",
        f"- Unit:                                {alarm.unit or 'not specified'}",
        f"- TreatMissingData:                    {alarm.treat_missing_data or 'missing'}",
        "",
        "State Change Actions:",
        f"- OK: {list(alarm.ok_actions or [])}",
        f"- ALARM: {list(alarm.alarm_actions or [])}",
        f"- INSUFFICIENT_DATA: {list(alarm.insufficient_data_actions or [])}",
    ])
    subject = f'{new}: "{alarm.name}" in {region_name}'
    if len(subject) > 100:
        subject = subject[:97] + "..."
    return subject, json.dumps(doc), text
