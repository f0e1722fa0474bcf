// The estate's IAM decisions: one long-lived process beside the emulator (started by
// local/bbws_local/iam.py). It reads one JSON request per line on stdin and writes one JSON answer
// per line on stdout, in order:
//   request: {"id": n, "simulation": <@cloud-copilot/iam-simulate Simulation>, "unchecked": bool}
//   answer:  {"id": n, "decision": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied",
//             "identity": <the identity policies' own result>, "resource": <the resource policy's>}
//            {"id": n, "error": "..."}   (the simulation was refused: unknown action, an ARN of the
//                                        wrong resource type for the action, an unknown context key)
// "unchecked" runs the evaluation without iam-data's validation of the resource type, for the few
// requests AWS authorises against a resource the Service Authorization Reference does not list
// (each one is named and justified in iam.py).
import { createInterface } from 'node:readline'
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

for await (const line of lines) {
  if (!line.trim()) continue
  let req
  try {
    req = JSON.parse(line)
  } catch (e) {
    write({ id: null, error: `not JSON: ${e.message}` })
    continue
  }
  try {
    if (req.unchecked) {
      const result = runUnsafeSimulation(req.simulation, { simulationMode: 'Strict' })
      write({ id: req.id, decision: typeof result === 'string' ? result : result.result })
    } else {
      const out = await runSimulation(req.simulation, { simulationMode: 'Strict' })
      if (out.resultType === 'error') {
        write({ id: req.id, error: JSON.stringify(out.errors) })
      } else {
        const analysis = out.resultType === 'single' ? out.result.analysis : undefined
        write({
          id: req.id,
          decision: out.overallResult,
          identity: analysis?.identityAnalysis?.result,
          resource: analysis?.resourceAnalysis?.result,
        })
      }
    }
  } catch (e) {
    write({ id: req.id, error: String(e && e.stack ? e.stack.split('\n')[0] : e) })
  }
}
