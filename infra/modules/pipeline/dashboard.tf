# bbws-<env>: the environment's CloudWatch dashboard (RB-003 §2.3). A dashboard belongs to the account,
# not a region; each widget names the region of its metrics, so PROD's shows af-south-1 and eu-west-1.
#
#   row 0      what the dashboard is; the state of every alarm above, per region
#   per service  invocations, errors, throttles and duration of latest-<env> of each of its functions
#              (one line per function and region)
#   last row   the pipeline's executions started, succeeded and failed, per state machine

locals {
  dashboard_name = "bbws-${var.env}"

  # The catalog's services in release order, each with its functions in this environment.
  dashboard_services = [
    for s in jsondecode(local.catalog_config).catalog : {
      name      = s.name
      functions = [for t in s.functions : replace(t, "{env}", var.env)]
    }
  ]

  # Per service: one widget per metric, each with one line per function and region.
  lambda_widget_metrics = [
    { metric = "Invocations", stat = "Sum", title = "invocations" },
    { metric = "Errors", stat = "Sum", title = "errors" },
    { metric = "Throttles", stat = "Sum", title = "throttles" },
    { metric = "Duration", stat = "Average", title = "duration (average, ms)" },
  ]
  service_widgets = flatten([
    for i, s in local.dashboard_services : [
      for j, m in local.lambda_widget_metrics : {
        type   = "metric"
        x      = j * 6
        y      = 6 + i * 6
        width  = 6
        height = 6
        properties = {
          title   = "${s.name}: ${m.title} of ${local.alias_name}"
          view    = "timeSeries"
          stacked = false
          region  = var.region
          stat    = m.stat
          period  = 60
          metrics = [
            for pair in setproduct(s.functions, local.target_regions) : [
              "AWS/Lambda", m.metric, "FunctionName", pair[0], "Resource", "${pair[0]}:${local.alias_name}",
              { region = pair[1], label = length(local.target_regions) > 1 ? "${pair[0]} (${pair[1]})" : pair[0] },
            ]
          ]
        }
      }
    ]
  ])

  pipeline_widget_metrics = [
    { metric = "ExecutionsStarted", title = "started" },
    { metric = "ExecutionsSucceeded", title = "succeeded" },
    { metric = "ExecutionsFailed", title = "failed (refused, rolled back or in error)" },
  ]
  pipeline_widgets = [
    for j, m in local.pipeline_widget_metrics : {
      type   = "metric"
      x      = j * 8
      y      = 6 + length(local.dashboard_services) * 6
      width  = 8
      height = 6
      properties = {
        title   = "Pipeline executions ${m.title}"
        view    = "timeSeries"
        stacked = false
        region  = var.region
        stat    = "Sum"
        period  = 300
        metrics = [
          for i, name in local.all_state_machine_names : [
            "AWS/States", m.metric, "StateMachineArn", local.all_state_machine_arns[i], { label = name },
          ]
        ]
      }
    }
  ]

  alarm_widgets = [
    for i, r in local.target_regions : {
      type   = "alarm"
      x      = 12 + i * floor(12 / length(local.target_regions))
      y      = 0
      width  = floor(12 / length(local.target_regions))
      height = 6
      properties = {
        title = "Alarms (${r})"
        alarms = r == var.region ? concat(
          [for a in aws_cloudwatch_metric_alarm.function : a.arn],
          [for a in aws_cloudwatch_metric_alarm.state_machine : a.arn],
        ) : [for a in aws_cloudwatch_metric_alarm.function_failover : a.arn]
      }
    }
  ]

  dashboard_header = {
    type   = "text"
    x      = 0
    y      = 0
    width  = 12
    height = 6
    properties = {
      markdown = join("\n", [
        "# BBWS ${upper(var.env)} (${local.account_id})",
        "The service functions' `${local.alias_name}` alias in ${join(" and ", local.target_regions)}, and the promotion pipeline (RB-003).",
        "",
        "An alarm fires when a function's errors or throttles break the monitor's rollback trigger (${local.alarm_limits.errors.words} errors, ${local.alarm_limits.throttles.words} throttles in ${local.alarm_period} s) or when an execution of the pipeline fails; it notifies bbws-promotion-events-${var.env}.",
        "",
        "`aws cloudwatch describe-alarms --alarm-name-prefix bbws- --state-value ALARM` (RB-003 §4.4)",
      ])
    }
  }
}

resource "aws_cloudwatch_dashboard" "environment" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = concat([local.dashboard_header], local.alarm_widgets, local.service_widgets, local.pipeline_widgets)
  })
}
