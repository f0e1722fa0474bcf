"""Build the BBWS service packages: deterministic zips, one per service, variant and build.

A package holds the service's `handler.py`, the shared `bbws_service.py` and a generated `build_info.py`
that fixes BUILD and VARIANT. Entries are sorted, stored uncompressed, with a fixed timestamp and mode,
so the same sources give the same bytes on every machine, hence the same Lambda CodeSha256.

Packages are written to `<state>/services/<service>/<variant>-<build>.zip`, where <state> is the
estate's state directory (BBWS_LOCAL_STATE).

    python local/services/build.py          # every service and variant, baseline builds
    python local/services/build.py --service ecs-event-handler --variant broken-health --build 1.4.3
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `services` and `bbws_local` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbws_local.settings import Settings  # noqa: E402
from services import catalog  # noqa: E402

SERVICES_DIR = Path(__file__).resolve().parent
SHARED_MODULE = SERVICES_DIR / "shared" / "bbws_service.py"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can record
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_UNIX = 3  # "created on Unix", so the mode bits are read back


@dataclass(frozen=True)
class Package:
    """One built package: which service, variant and build, and the zip's bytes."""

    service: str
    variant: str
    build: str
    data: bytes

    @property
    def code_sha256(self) -> str:
        """The package's SHA-256 as Lambda reports it (CodeSha256: base64 of the digest)."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    @property
    def filename(self) -> str:
        """`<variant>-<build>.zip`"""
        return f"{self.variant}-{self.build}.zip"

    @property
    def description(self) -> str:
        """The description of the Lambda version this package is published as."""
        return catalog.version_description(self.build, self.variant)


def build_info_source(service: str, variant: str, build: str) -> str:
    """The generated `build_info.py` of a package."""
    return (
        f'"""Fixed when the package was built: {service} {build} ({variant})."""\n'
        f"SERVICE = {service!r}\n"
        f"BUILD = {build!r}\n"
        f"VARIANT = {variant!r}\n"
    )


def package_files(service: str, variant: str, build: str) -> dict[str, bytes]:
    """The files of a package, by their name in the zip."""
    handler = SERVICES_DIR / catalog.service(service).name / "handler.py"
    return {
        "handler.py": handler.read_bytes(),
        "bbws_service.py": SHARED_MODULE.read_bytes(),
        "build_info.py": build_info_source(service, variant, build).encode(),
    }


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A deterministic zip of `files`: sorted names, fixed timestamp and mode, no compression."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, files[name])
    return buf.getvalue()


def build_package(service: str, variant: str, build: str) -> Package:
    """Build a package in memory (nothing is written)."""
    catalog.service(service)
    catalog.check_variant(variant)
    catalog.check_build(build)
    return Package(service, variant, build, zip_bytes(package_files(service, variant, build)))


def output_dir(state_dir: Path | None = None) -> Path:
    """Where packages are written: `<state>/services`."""
    return (state_dir or Settings.from_env().state_dir) / "services"


def write_package(package: Package, state_dir: Path | None = None) -> Path:
    """Write `package` to `<state>/services/<service>/<variant>-<build>.zip`, unless already identical."""
    path = output_dir(state_dir) / package.service / package.filename
    if path.is_file() and path.read_bytes() == package.data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(package.data)
    tmp.replace(path)
    return path


def build(service: str, variant: str, build_number: str,
          state_dir: Path | None = None) -> tuple[Package, Path]:
    """Build a package and write it to the state directory; returns the package and its path."""
    package = build_package(service, variant, build_number)
    return package, write_package(package, state_dir)


def baseline_builds() -> list[str]:
    """Every build the seed publishes somewhere, oldest first."""
    builds = {b for env_builds in catalog.BASELINE_BUILDS.values() for b in env_builds}
    return sorted(builds, key=catalog.build_key)


def build_all(services: list[str] | None = None, variants: list[str] | None = None,
              builds: list[str] | None = None, state_dir: Path | None = None) -> list[tuple[Package, Path]]:
    """Build every combination of the given services, variants and builds (default: all, baseline builds)."""
    return [
        build(s, v, b, state_dir)
        for s in services or list(catalog.SERVICES)
        for v in variants or list(catalog.VARIANTS)
        for b in builds or baseline_builds()
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Build the BBWS service packages (deterministic zips).")
    parser.add_argument("--service", action="append", choices=sorted(catalog.SERVICES),
                        help="a service (repeatable; default: all)")
    parser.add_argument("--variant", action="append", choices=catalog.VARIANTS,
                        help="a variant (repeatable; default: all)")
    parser.add_argument("--build", action="append", help="a build number such as 1.4.3 "
                        f"(repeatable; default: {', '.join(baseline_builds())})")
    parser.add_argument("--state-dir", type=Path,
                        help="the estate's state directory (default: BBWS_LOCAL_STATE)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI: build packages and print each path with its CodeSha256."""
    args = parse_args(argv)
    try:
        built = build_all(args.service, args.variant, args.build, args.state_dir)
    except catalog.CatalogError as e:
        print(f"build: {e}", file=sys.stderr)
        return 2
    for package, path in built:
        print(f"{package.code_sha256}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
