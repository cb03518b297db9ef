"""A local git remote that behaves like CodeCommit: a push emits the EventBridge event AWS would send.

``mlops git-hook install`` puts a ``post-receive`` hook into a bare repository. For every ref a push
updates, the hook builds the ``CodeCommit Repository State Change`` event CodeCommit sends for it
(``referenceCreated``, ``referenceUpdated`` or ``referenceDeleted``), writes it to
``<data dir>/events/incoming/<event id>.json`` and hands it to ``mlops trigger`` (detached, so the
push returns once the event is delivered). The hook does not filter: a push to another branch, a
tag or a deletion is sent too, and the template's rule drops it, exactly as EventBridge would.

Who pushed: CodeCommit names the IAM principal (``callerUserArn``). Locally that is
``arn:aws:iam::<account>:user/<name>`` where ``name`` is ``$MLOPS_PUSHER`` if set, else the OS user
running the push (for a push over a local path or SSH, the user the hook runs as).

Run by the hook as ``python -m governed_mlops_local.git_hook post-receive ...`` with every path
baked in at install time; :func:`codecommit_reference_event` is pure and unit-tested on its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.code_repository import local_remote_pointer
from governed_mlops.adapters.fileio import atomic_write
from governed_mlops.errors import ConfigError
from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION, PARTITION

#: A post-receive line is ``<old> <new> <ref>``.
_POST_RECEIVE_FIELDS = 3

ZERO_SHA = "0" * 40
DETAIL_TYPE = "CodeCommit Repository State Change"
PUSHER_VARIABLE = "MLOPS_PUSHER"
HOOK_MARKER = "# installed by: mlops git-hook install"
_REPOSITORY_ID_KEY = "mlops.repositoryid"
_IAM_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_REPOSITORY_NAME = re.compile(r"^[\w.-]{1,100}$")
_REF_TYPES = {"refs/heads/": "branch", "refs/tags/": "tag"}
_GIT = shutil.which("git") or "git"


# -- the event (pure) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RefUpdate:
    """One line of ``post-receive`` standard input: ``<old sha> <new sha> <ref name>``."""

    old: str
    new: str
    ref: str


def parse_ref_updates(text: str) -> list[RefUpdate]:
    """The ref updates git passes to ``post-receive`` (blank lines ignored)."""
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != _POST_RECEIVE_FIELDS:
            raise ValueError(f"not a post-receive line (old new ref): {line!r}")
        updates.append(RefUpdate(*parts))
    return updates


def pusher_arn(name: str, account: str = LOCAL_ACCOUNT) -> str:
    """``arn:aws:iam::<account>:user/<name>``; ``name`` must be a valid IAM user name."""
    if not _IAM_USER_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not an IAM user name (letters, digits and +=,.@_- up to 64 characters); "
            f"set {PUSHER_VARIABLE} to the pusher's name"
        )
    return f"arn:{PARTITION}:iam::{account}:user/{name}"


def pusher_name(environ: Mapping[str, str], os_user: Callable[[], str] = getpass.getuser) -> str:
    """``$MLOPS_PUSHER`` if set and not blank, else the OS user running the push."""
    return environ.get(PUSHER_VARIABLE, "").strip() or os_user()


def repository_arn(name: str, account: str = LOCAL_ACCOUNT, region: str = LOCAL_REGION) -> str:
    return f"arn:{PARTITION}:codecommit:{region}:{account}:{name}"


def codecommit_reference_event(  # noqa: PLR0913 - keyword-only past the repository: the hook's options, named at the call site
    old: str,
    new: str,
    ref: str,
    *,
    repository_name: str,
    repository_id: str,
    caller_user_arn: str,
    time: datetime,
    event_id: str,
    account: str = LOCAL_ACCOUNT,
    region: str = LOCAL_REGION,
) -> dict[str, Any] | None:
    """The EventBridge event CodeCommit sends when ``ref`` moves from ``old`` to ``new``.

    All zeros as ``old`` is ``referenceCreated`` (no ``oldCommitId``), all zeros as ``new`` is
    ``referenceDeleted`` (no ``commitId``), anything else ``referenceUpdated`` (both). ``None`` for
    refs that are neither branches nor tags: CodeCommit has no event for them.
    """
    prefix = next((p for p in _REF_TYPES if ref.startswith(p)), None)
    if prefix is None or ref == prefix:
        return None
    detail: dict[str, Any] = {"callerUserArn": caller_user_arn}
    if old == ZERO_SHA:
        detail |= {"commitId": new, "event": "referenceCreated"}
    elif new == ZERO_SHA:
        detail |= {"event": "referenceDeleted", "oldCommitId": old}
    else:
        detail |= {"commitId": new, "event": "referenceUpdated", "oldCommitId": old}
    detail |= {
        "referenceFullName": ref,
        "referenceName": ref.removeprefix(prefix),
        "referenceType": _REF_TYPES[prefix],
        "repositoryId": repository_id,
        "repositoryName": repository_name,
    }
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPE,
        "source": "aws.codecommit",
        "account": account,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [repository_arn(repository_name, account, region)],
        "detail": detail,
    }


# -- what the hook runs --------------------------------------------------------------------------
@dataclass(frozen=True)
class HookConfig:
    """Everything the hook needs, baked into it at install time."""

    mlops: Path
    data_dir: Path
    project_dir: Path
    repository_name: str
    repository_id: str
    account: str = LOCAL_ACCOUNT
    region: str = LOCAL_REGION

    def arguments(self) -> list[str]:
        return [
            "--mlops",
            str(self.mlops),
            "--data-dir",
            str(self.data_dir),
            "--project-dir",
            str(self.project_dir),
            "--repository-name",
            self.repository_name,
            "--repository-id",
            self.repository_id,
            "--account",
            self.account,
            "--region",
            self.region,
        ]


def incoming_dir(data_dir: Path) -> Path:
    return data_dir / "events" / "incoming"


def _clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    # git exports GIT_DIR (the bare repository) and friends to hooks; the runtime's own git calls on
    # the project checkout must not see them.
    return {k: v for k, v in environ.items() if not k.startswith("GIT_")}


def _say(text: str, *, err: bool = False) -> None:
    # Flushed at once: `mlops trigger` writes to the same stream, and git relays both to the pusher.
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def deliver(
    updates: Sequence[RefUpdate],
    config: HookConfig,
    *,
    environ: Mapping[str, str],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    run: Callable[..., Any] = subprocess.run,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write one event per ref update and send each through ``mlops trigger``; the event files."""
    echo = echo or _say
    caller = pusher_arn(pusher_name(environ), config.account)
    written = []
    for update in updates:
        event_id = new_id()
        event = codecommit_reference_event(
            update.old,
            update.new,
            update.ref,
            repository_name=config.repository_name,
            repository_id=config.repository_id,
            caller_user_arn=caller,
            time=now(),
            event_id=event_id,
            account=config.account,
            region=config.region,
        )
        if event is None:
            echo(f"mlops: {update.ref} is neither a branch nor a tag: CodeCommit sends no event for it")
            continue
        path = incoming_dir(config.data_dir) / f"{event_id}.json"
        atomic_write(path, (json.dumps(event, indent=2) + "\n").encode())
        echo(f"mlops: {event['detail']['event']} {update.ref} by {caller} -> event {event_id}")
        run(
            [str(config.mlops), "--data-dir", str(config.data_dir), "trigger", str(path)],
            cwd=config.project_dir,
            env=_clean_environment(environ),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=600,
        )
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the installed hook: ``post-receive`` with the baked configuration."""
    parser = argparse.ArgumentParser(prog="governed_mlops_local.git_hook")
    parser.add_argument("hook", choices=["post-receive"])
    for option in ("mlops", "data-dir", "project-dir"):
        parser.add_argument(f"--{option}", type=Path, required=True)
    for option in ("repository-name", "repository-id", "account", "region"):
        parser.add_argument(f"--{option}", required=True)
    args = parser.parse_args(argv)
    config = HookConfig(
        mlops=args.mlops,
        data_dir=args.data_dir,
        project_dir=args.project_dir,
        repository_name=args.repository_name,
        repository_id=args.repository_id,
        account=args.account,
        region=args.region,
    )
    try:
        deliver(parse_ref_updates(sys.stdin.read()), config, environ=os.environ)
    except (ConfigError, ValueError, OSError, subprocess.SubprocessError) as exc:
        # The push itself has already succeeded; say why no event was sent.
        _say(f"mlops: error: {exc}; no event was sent", err=True)
        return 1
    return 0


# -- installing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Installed:
    repository: Path
    hook: Path
    created: bool
    repository_id: str
    backup: Path | None


def _git(*args: str, cwd: Path | None = None) -> str:
    answer = subprocess.run(
        [_GIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_clean_environment(os.environ),
    )
    if answer.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed: {answer.stderr.strip() or answer.stdout.strip()}")
    return answer.stdout.strip()


def hook_script(python: Path, config: HookConfig) -> str:
    """The ``post-receive`` hook: a POSIX sh script with absolute paths, quoted for the shell."""
    # -I: neither the repository directory (the cwd) nor the pusher's PYTHONPATH can shadow the package.
    command = [str(python), "-I", "-m", "governed_mlops_local.git_hook", "post-receive", *config.arguments()]
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARKER} (re-running it overwrites this file)\n"
        "# Each pushed ref becomes the CodeCommit 'Repository State Change' event AWS sends, delivered\n"
        "# to the local runtime with `mlops trigger`; the template's rule decides what starts.\n"
        f"exec {shlex.join(command)}\n"
    )


def default_mlops_executable() -> Path:
    """The ``mlops`` next to this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).absolute().parent / "mlops"
    if beside.is_file():
        return beside
    found = shutil.which("mlops")
    if found is None:
        raise ConfigError("cannot find the mlops executable next to this Python or on PATH")
    return Path(found).absolute()


def install(
    *,
    data_dir: Path,
    project_dir: Path,
    repository_name: str,
    branch: str,
    remote: Path | None = None,
    python: Path | None = None,
    mlops: Path | None = None,
) -> Installed:
    """Create (or reuse) the repository and (over)write its ``post-receive`` hook; idempotent.

    The repository id (CodeCommit's ``repositoryId``) is generated once and kept in the
    repository's git config, so re-installing changes neither the repository nor its id.
    """
    if not _REPOSITORY_NAME.fullmatch(repository_name):
        raise ConfigError(f"{repository_name!r} is not a CodeCommit repository name (letters, digits, . _ -)")
    data_dir = data_dir.absolute()
    repository = (remote or data_dir / "git" / f"{repository_name}.git").absolute()
    created = not repository.exists()
    if created:
        repository.parent.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", str(repository))
        _git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=repository)
    else:
        # A plain directory inside some other checkout must not get that checkout's hooks.
        try:
            git_dir = Path(_git("rev-parse", "--absolute-git-dir", cwd=repository)).resolve()
        except ConfigError:
            git_dir = None
        if git_dir not in {repository.resolve(), (repository / ".git").resolve()}:
            raise ConfigError(f"{repository} exists but is not a git repository")
    try:
        repository_id = _git("config", "--get", _REPOSITORY_ID_KEY, cwd=repository)
    except ConfigError:
        repository_id = str(uuid.uuid4())
        _git("config", _REPOSITORY_ID_KEY, repository_id, cwd=repository)
    hooks = Path(_git("rev-parse", "--git-path", "hooks", cwd=repository))
    hooks = hooks if hooks.is_absolute() else repository / hooks
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "post-receive"
    backup = None
    if hook.exists() and HOOK_MARKER not in hook.read_text(errors="replace"):
        backup = hook.with_name("post-receive.before-mlops")
        hook.replace(backup)
    config = HookConfig(
        mlops=(mlops or default_mlops_executable()).absolute(),
        data_dir=data_dir,
        project_dir=project_dir.absolute(),
        repository_name=repository_name,
        repository_id=repository_id,
    )
    atomic_write(hook, hook_script((python or Path(sys.executable)).absolute(), config).encode())
    hook.chmod(0o755)
    # Prepare Data reads a pushed commit from this repository, as it reads CodeCommit's in AWS.
    pointer = local_remote_pointer(data_dir, repository_name)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(pointer, f"{repository}\n".encode())
    return Installed(repository, hook, created, repository_id, backup)


if __name__ == "__main__":
    raise SystemExit(main())
