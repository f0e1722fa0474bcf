// sts:AssumeRoleWithWebIdentity's trust decision for the estate (local/bbws_local/oidc.py): one JSON
// request on stdin, one JSON answer on stdout, then exit.
//   request: {"trust": <the role's trust policy>, "principal": <the OIDC provider's ARN>,
//             "role_arn": ..., "account": ..., "context": {"<provider>:aud": ..., "<provider>:sub": ..., ...}}
//   answer:  {"decision": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied"} or {"error": "..."}
// The evaluation is @cloud-copilot/iam-simulate's own engine (`authorize`), called as its unchecked
// simulation calls it, with one difference: runSimulation drops the OIDC provider's condition keys
// (`token.actions.githubusercontent.com:sub`, ...) since the Service Authorization Reference does not list
// them for this action, and runUnsafeSimulation loads the resource policy without the name the engine
// reads; here the trust policy is loaded with a name and the keys are passed as the token gives them.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { loadPolicy } from '@cloud-copilot/iam-policy'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dist = path.join(root, 'node_modules', '@cloud-copilot', 'iam-simulate', 'dist', 'esm')
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href)
const { authorize } = await load('core_engine/CoreSimulatorEngine.js')
const { AwsRequestImpl } = await load('request/request.js')
const { RequestContextImpl } = await load('requestContext.js')
const { DiscoveryContextKeyConstraints } = await load('context_keys/discoveryContextKeyConstraints.js')

let input = ''
for await (const chunk of process.stdin) input += chunk
try {
  const req = JSON.parse(input)
  const request = new AwsRequestImpl(req.principal, { resource: req.role_arn, accountId: req.account },
    'sts:AssumeRoleWithWebIdentity', new RequestContextImpl(req.context))
  const analysis = authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: loadPolicy(req.trust, { name: 'trust-policy' }),
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  })
  process.stdout.write(JSON.stringify({ decision: analysis.result }) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack ? e.stack.split('\n')[0] : e) }) + '\n')
}
