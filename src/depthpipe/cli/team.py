"""``depthpipe team up | down | status``: the team's shared stack on this machine, and a clone's settings for it
(the S3 and PostgreSQL clients loaded by the verbs)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from depthpipe.errors import DepthpipeError
from depthpipe.team import settings

if TYPE_CHECKING:
    from depthpipe.team.dvc_remote import Remote


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).resolve() if args.data_dir else settings.default_data_dir()


def up(args: argparse.Namespace) -> int:
    """Start (or reuse) the stack; make it this clone's DVC remote; print what a teammate sets."""
    from depthpipe.team import dvc_remote, mlflow_server, stack

    ports = {"mlflow": args.mlflow_port, "s3": args.s3_port, "postgres": args.postgres_port}
    team = stack.up(_data_dir(args), args.host, ports, args.bucket, args.workers, args.basic_auth)
    project = Path.cwd()
    if (project / ".dvc").is_dir() and not args.no_dvc_remote:
        path = dvc_remote.write_local(project, team)
        stack.register_clone(team, project)
        print(
            f"team: DVC remote '{dvc_remote.REMOTE}' ({team.dvc_remote_url} at {team.endpoint_url}) is this clone's "
            f"default (set in {path.relative_to(project)}, git-ignored); its S3 keys (key id {team.access_key_id}) "
            f"are in {dvc_remote.credentials_file(team)}, named by credentialpath"
        )
    if team.auth:
        print(f"team: MLflow user '{team.mlflow_user}': its password is in ~/.mlflow/credentials (MLflow reads it)")
    elif team.host != settings.LOOPBACK:
        print(f"team: warning: bound to {team.host}: {mlflow_server.AUTH_HINT}")
    print("team: a teammate's settings (their clone gets the keys from `depthpipe team up` on this machine,")
    print(f"      or from whoever runs the stack: {team.state_file}):")
    for line in team.teammate_lines():
        print(f"  {line}")
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop what ``up`` started, by process group (refused while other clones use it, unless ``--force``)."""
    from depthpipe.team import stack

    stack.down(_data_dir(args), force=args.force, here=Path.cwd())
    return 0


def _running_team(args: argparse.Namespace) -> settings.Team:
    team = settings.load(_data_dir(args))
    if team is None:
        raise DepthpipeError(f"no stack in {_data_dir(args)}; start one with `depthpipe team up`")
    return team


def backup(args: argparse.Namespace) -> int:
    """Copy MLflow's database, the bucket and MLflow's users of the running stack to a new folder."""
    from depthpipe.team import backup as backups

    backups.backup(_running_team(args), Path(args.dest).resolve())
    return 0


def restore(args: argparse.Namespace) -> int:
    """Put a backup into the running stack, upgraded to the installed MLflow's schema (MLflow's server restarts)."""
    from depthpipe.team import backup as backups

    backups.restore(_running_team(args), Path(args.src).resolve())
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """``mlflow db upgrade`` on the stack's database, after installing a newer MLflow."""
    from depthpipe.team import backup as backups

    backups.db_upgrade(_running_team(args))
    return 0


def status(args: argparse.Namespace) -> int:
    """The stack's parts, and this clone's tracking store and DVC remote; exit 1 if any fails."""
    from depthpipe.team import stack
    from depthpipe.tracking.store import check_store, shown

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
    remote = _clone_remote()
    if remote is not None:
        checked = True
        problem = _remote_problem(remote)
        fine = fine and problem is None
        print(
            f"clone: DVC remote '{remote.name}' ({remote.url}) "
            + ("opens with its keys" if problem is None else f"-- {problem}")
        )
    if not checked:
        print(f"team: no stack in {data_dir}, no MLFLOW_TRACKING_URI, no S3 DVC remote here: nothing to check")
        return 1
    return 0 if fine else 1


def _clone_remote() -> Remote | None:
    """The S3 DVC remote of the clone in the working directory (None outside a DVC project or without one)."""
    from depthpipe.team import dvc_remote

    return dvc_remote.remote_of(Path.cwd()) if (Path.cwd() / ".dvc").is_dir() else None


def _remote_problem(remote: Remote) -> str | None:
    """None when the clone's S3 remote opens with its keys, else one line naming it and the key id (no secret)."""
    from depthpipe.team import objectstore

    if not (remote.key_id and remote.secret and remote.endpoint):
        return f"DVC remote '{remote.name}' ({remote.url}): no endpointurl or S3 keys in .dvc/config.local"
    return objectstore.check_bucket(remote.endpoint, remote.bucket, remote.key_id, remote.secret)


def transfer(args: argparse.Namespace) -> int:
    """``team push`` / ``team pull``: ``dvc push|pull ARGS`` once the default remote's keys open its bucket.

    DVC itself reports refused keys as "unexpected error - Forbidden (403)"; checked first, they are one line naming
    the remote and its key id (never the secret), exit 1. Otherwise DVC's own exit code.
    """
    import subprocess
    import sys

    remote = _clone_remote()
    problem = _remote_problem(remote) if remote is not None else None
    if remote is not None and problem is not None:
        raise DepthpipeError(f"dvc {args.action}: DVC remote '{remote.name}' ({remote.url}): {problem}")
    dvc = Path(sys.executable).with_name("dvc")
    return subprocess.run([str(dvc) if dvc.exists() else "dvc", args.action, *args.dvc_args], check=False).returncode
