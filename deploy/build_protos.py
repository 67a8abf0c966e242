"""Generate the gRPC code of every service's .proto files (never committed): run by `make`
before run/test/bench and by the Docker image build.

protoc is told each .proto sits at `<package>/protos_gen/` (a virtual include path), so the
generated modules import each other as `<package>.protos_gen`, with no editing."""
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
# (service directory, package): the package's protos/ holds its .proto files.
PROTO_PACKAGES = (("services/service_tickets", "service_tickets"),)


def build(service_dir: Path, package: str) -> None:
    sources = service_dir / package / "protos"
    target = service_dir / package / "protos_gen"
    target.mkdir(exist_ok=True)
    for proto in sorted(sources.glob("*.proto")):
        code = protoc.main(["grpc_tools.protoc", f"-I{package}/protos_gen={sources}",
                            f"--python_out={service_dir}", f"--pyi_out={service_dir}",
                            f"--grpc_python_out={service_dir}", str(proto)])
        if code != 0:
            sys.exit(f"protoc failed on {proto}")
    (target / "__init__.py").write_text(
        '"""Generated from ../protos/ by deploy/build_protos.py; do not edit."""\n')


if __name__ == "__main__":
    for directory, package in PROTO_PACKAGES:
        build(ROOT / directory, package)
