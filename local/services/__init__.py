"""The BBWS services as fixtures of the local estate (RB-003 §1.4).

Each service is a small python3.12 package under `local/services/<service>/handler.py`, built in three
variants (`healthy`, `broken-health`, `errors-under-traffic`, `unhealthy-outside-dev`) by `build.py`, deployed to the DEV, SIT and
PROD accounts by `seed.py`, and exercised with ordinary requests by `traffic.py`.
"""
