"""The BBWS local estate: three AWS accounts on one machine, on moto's server.

Modules:
- settings: the estate's fixed facts (accounts, regions) and its runtime settings.
- patches: every change made to moto, in one place, each guarded by a test.
- runtime: the Lambda Runtime API, the warm process pool and invocation (metrics, throttles, timeouts).
- mailbox: where SNS email deliveries land.
- urls: Lambda Function URLs served on loopback.
- gateway: the WSGI layer in front of moto (code downloads, mailbox view, cross-account guard).
- server: the process `make up` starts; ctl: up/down/status.
"""
