"""``depthpipe team up | down | status``: the team's shared stack on this machine, and a clone's settings for it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from depthpipe.errors import DepthpipeError
from depthpipe.team import dvc_remote, mlflow_server, objectstore, settings, stack
from depthpipe.tracking.store import check_store, shown


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).resolve() if args.data_dir else settings.default_data_dir()


def up(args: argparse.Namespace) -> int:
    """Start (or reuse) the stack; make it this clone's DVC remote; print what a teammate sets."""
    ports = {"mlflow": args.mlflow_port, "s3": args.s3_port, "postgres": args.postgres_port}
    team = stack.up(_data_dir(args), args.host, ports, args.bucket, args.workers, args.basic_auth)
    project = Path.cwd()
    if (project / ".dvc").is_dir() and not args.no_dvc_remote:
        path = dvc_remote.write_local(project, team)
        print(
            f"team: DVC remote '{dvc_remote.REMOTE}' ({team.dvc_remote_url} at {team.endpoint_url}) is this clone's "
            f"default; its S3 keys (key id {team.access_key_id}) are in {path.relative_to(project)} (git-ignored)"
        )
    if team.host != settings.LOOPBACK:
        print(f"team: warning: bound to {team.host}: {mlflow_server.AUTH_HINT}")
    print("team: a teammate's settings (their clone gets the keys from `depthpipe team up` on this machine,")
    print(f"      or from whoever runs the stack: {team.state_file}):")
    for line in team.teammate_lines():
        print(f"  {line}")
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop what ``up`` started, by pid."""
    stack.down(_data_dir(args))
    return 0


def status(args: argparse.Namespace) -> int:
    """The stack's parts, and this clone's tracking store and DVC remote; exit 1 if any fails."""
    data_dir = _data_dir(args)
    checked, fine = False, True
    if settings.load(data_dir) is not None:
        checked = True
        fine = stack.status(data_dir)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        checked = True
        try:
            uri = check_store()
            print(f"clone: MLflow store {shown(uri)} answers")
        except DepthpipeError as exc:
            fine = False
            print(f"clone: {exc}")
    remote = dvc_remote.remote_of(Path.cwd()) if (Path.cwd() / ".dvc").is_dir() else None
    if remote is not None:
        checked = True
        problem = (
            objectstore.check_bucket(remote.endpoint or "", remote.bucket, remote.key_id or "", remote.secret or "")
            if remote.key_id and remote.secret and remote.endpoint
            else f"DVC remote '{remote.name}' ({remote.url}): no endpointurl or S3 keys in .dvc/config.local"
        )
        fine = fine and problem is None
        print(
            f"clone: DVC remote '{remote.name}' ({remote.url}) "
            + ("opens with its keys" if problem is None else f"-- {problem}")
        )
    if not checked:
        print(f"team: no stack in {data_dir}, no MLFLOW_TRACKING_URI, no S3 DVC remote here: nothing to check")
        return 1
    return 0 if fine else 1
