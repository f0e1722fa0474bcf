"""SDK sessions of one process that share botocore's data loader.

A new botocore session reads and parses the SDK's JSON models again for its first client (the endpoints,
the partitions, the service's model): about 50 ms of CPU, against 5-8 ms for a client of a session whose
loader has them. The tests and their helpers (local/services/estate.py) make sessions per account and
profile by the thousand, so every session made here shares one loader; the models are read-only once
loaded. (boto3.client() and boto3's default session keep one loader of their own already.)
"""
from __future__ import annotations

import os

import boto3
import botocore.loaders
import botocore.session

BOTO3_DATA = os.path.join(os.path.dirname(boto3.__file__), "data")


class _SharedLoader(botocore.loaders.Loader):
    """botocore's loader, searching boto3's data directory too, from the start.

    boto3.Session appends boto3's data directory to its session's loader each time one is made; on a
    shared loader the list would grow with every session. Here `search_paths` answers a copy, so that
    append changes nothing (the directory is already searched)."""

    @property
    def search_paths(self) -> list[str]:
        return list(self._search_paths)


_LOADER = _SharedLoader(extra_search_paths=[BOTO3_DATA])


def botocore_session() -> botocore.session.Session:
    """A new botocore session (its own configuration and credentials) with the process's shared loader.
    AWS_DATA_PATH is not read: the estate and its tests use the SDK's own models only."""
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return core

