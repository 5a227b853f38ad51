"""The Python gRPC stubs of proto/vecstream/v1/vecstream.proto, generated when first needed.

Nothing generated is kept in the source tree. The stubs are made by Debian 12's ``protoc``
(protobuf-compiler 3.21) with gRPC's Python plugin ``grpc_python_plugin`` (protobuf-compiler-grpc
1.51): the versions of python3-protobuf 3.21 and python3-grpcio 1.51, which load them. Debian 12's
python3-grpc-tools is 1.14, whose bundled protoc predates proto3 ``optional`` fields (the proto
has one), so it is not used.

Where things are:
  * the .proto: ``$VECSTREAM_PROTO_DIR`` (the folder holding vecstream/v1/vecstream.proto), else
    the repository's proto/ when the package runs from its source tree (clients/python);
  * the stubs: under ``$VECSTREAM_STUBS_DIR``, else ``$XDG_CACHE_HOME/vecstream/stubs`` (or
    ``~/.cache/vecstream/stubs``), in a folder named for the .proto's SHA-256, so that a changed
    .proto gets new stubs and processes never overwrite each other's;
  * the generated modules import each other as ``vecstream.v1.vecstream_pb2``: that folder is
    added to this package's ``__path__``, so ``vecstream.v1`` is found there.

Without a .proto (an installed package), stubs made beforehand are used:
``python3 -m vecstream.stubs --out DIR`` and then ``VECSTREAM_STUBS_DIR=DIR``.
"""

import argparse
import hashlib
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

_PROTO = pathlib.Path("vecstream", "v1", "vecstream.proto")


def proto_dir():
    """The folder holding vecstream/v1/vecstream.proto, or None."""
    env = os.environ.get("VECSTREAM_PROTO_DIR")
    if env:
        if not (pathlib.Path(env) / _PROTO).is_file():
            raise ImportError(f"VECSTREAM_PROTO_DIR={env}: no {_PROTO} there")
        return pathlib.Path(env)
    # clients/python/vecstream/stubs.py -> the repository root is three levels up.
    in_repo = pathlib.Path(__file__).resolve().parents[3] / "proto"
    return in_repo if (in_repo / _PROTO).is_file() else None


def stubs_root():
    env = os.environ.get("VECSTREAM_STUBS_DIR")
    if env:
        return pathlib.Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache, "vecstream", "stubs")


def generate(proto, root):
    """Generates the stubs of ``proto``/vecstream/v1/vecstream.proto under ``root``; returns the
    folder that holds vecstream/v1/. Already there (same SHA-256): nothing to do."""
    digest = hashlib.sha256((proto / _PROTO).read_bytes()).hexdigest()[:16]
    final = root / digest
    if (final / "vecstream" / "v1" / "vecstream_pb2_grpc.py").is_file():
        return final
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise ImportError("generating the gRPC stubs needs protoc and grpc_python_plugin "
                          "(Debian: apt-get install protobuf-compiler protobuf-compiler-grpc)")
    root.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tmp-", dir=root))
    try:
        r = subprocess.run([protoc, f"--proto_path={proto}", f"--python_out={tmp}",
                            f"--grpc_out={tmp}", f"--plugin=protoc-gen-grpc={plugin}", str(_PROTO)],
                           cwd=proto, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise ImportError(f"protoc failed on {proto / _PROTO}: {r.stderr.strip()}")
        try:
            tmp.rename(final)  # atomic: a reader sees all of the stubs or none
        except OSError:
            if not (final / "vecstream" / "v1" / "vecstream_pb2_grpc.py").is_file():
                raise
            # Another process got there first with the same stubs.
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _newest_stubs(root):
    found = [d for d in root.glob("*") if (d / "vecstream" / "v1" / "vecstream_pb2_grpc.py").is_file()]
    return max(found, key=lambda d: d.stat().st_mtime) if found else None


def load():
    """(vecstream_pb2, vecstream_pb2_grpc), generated first if needed. ImportError when neither
    a .proto nor stubs made beforehand are found, or grpc/protobuf are not installed."""
    proto = proto_dir()
    root = stubs_root()
    folder = generate(proto, root) if proto else _newest_stubs(root)
    if folder is None:
        raise ImportError("no vecstream.proto to generate the gRPC stubs from and no stubs in "
                          f"{root}: set VECSTREAM_PROTO_DIR, or VECSTREAM_STUBS_DIR to the --out "
                          "of `python3 -m vecstream.stubs`")
    package = sys.modules[__name__.rpartition(".")[0]]
    extra = str(folder / "vecstream")
    if extra not in package.__path__:
        package.__path__.append(extra)
    pb2 = importlib.import_module(package.__name__ + ".v1.vecstream_pb2")
    pb2_grpc = importlib.import_module(package.__name__ + ".v1.vecstream_pb2_grpc")
    return pb2, pb2_grpc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m vecstream.stubs",
                                 description="Generate the gRPC stubs of vecstream.proto.")
    ap.add_argument("--proto-dir", help="folder holding vecstream/v1/vecstream.proto")
    ap.add_argument("--out", help="folder to put them under (default: the cache)")
    args = ap.parse_args(argv)
    if args.proto_dir:
        os.environ["VECSTREAM_PROTO_DIR"] = args.proto_dir
    proto = proto_dir()
    if proto is None:
        ap.error("no vecstream.proto found: give --proto-dir")
    root = pathlib.Path(args.out) if args.out else stubs_root()
    print(generate(proto, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
