import multiprocessing
import os
import pwd
import shutil
import subprocess
import uuid

import pytest

from depthpipe.team import account


def _make(name: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    out.put(account.system_user(name))


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None, reason="makes a system user: root only")
def test_stacks_started_side_by_side_get_the_one_service_user_there_is():
    name = f"dp-test-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_make, args=(name, barrier, out)) for _ in range(4)]
    try:
        for proc in procs:
            proc.start()
        uids = {out.get(timeout=60) for _ in procs}
        for proc in procs:
            proc.join(timeout=60)
        assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
        assert uids == {pwd.getpwnam(name).pw_uid}
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="an ordinary user's daemons run as that user")
def test_an_ordinary_user_runs_postgres_as_itself():
    assert account.postgres_user() is None
