"""The layer's packer: the jobs' sourcedir from any tree of files, deterministic and minimal."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest

from governed_mlops.domain.sourcedir import (
    Listing,
    content_addressed_key,
    deterministic_tar_gz,
    job_code_files,
    pack_sourcedir,
)
from governed_mlops.errors import ConfigError

LAYER = "layers/common/python/governed_mlops"
ML = "src/governed_mlops_ml"


class DictTree:
    """A tree held in memory: path -> bytes (folders are implied by the paths)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.reads: list[str] = []
        self.listed: list[str] = []

    def listing(self, folder: str) -> Listing | None:
        self.listed.append(folder)
        prefix = f"{folder}/" if folder else ""
        below = [p[len(prefix) :] for p in self.files if p.startswith(prefix)]
        if not below:
            return None
        return Listing(
            files=frozenset(name for name in below if "/" not in name),
            folders=frozenset(name.split("/", 1)[0] for name in below if "/" in name),
        )

    def read(self, path: str) -> bytes:
        self.reads.append(path)
        return self.files[path]


def project(**overrides: bytes) -> dict[str, bytes]:
    """A small project: two jobs importing the ML package, which imports one layer module."""
    files = {
        "jobs/train.py": b"from governed_mlops_ml import model\nprint('train')\n",
        "jobs/evaluate.py": b"def main():\n    import governed_mlops_ml.metrics\n",
        "jobs/README.md": b"not a job\n",
        f"{ML}/__init__.py": b"",
        f"{ML}/model.py": b"from governed_mlops.errors import ConfigError\n",
        f"{ML}/metrics.py": b"from . import model\n",
        f"{ML}/unused.py": b"import pandas\n",
        f"{LAYER}/__init__.py": b"",
        f"{LAYER}/errors.py": b"class ConfigError(Exception): ...\n",
        f"{LAYER}/settings.py": b"import pydantic\n",
        f"{LAYER}/adapters/__init__.py": b"",
        "tests/test_train.py": b"import jobs\n",
        "README.md": b"# project\n",
        "models/credit-risk/config.yaml": b"dataset: {}\n",
    }
    return files | overrides


def test_the_archive_holds_the_jobs_and_exactly_what_they_import() -> None:
    assert job_code_files(DictTree(project())) == {
        "evaluate.py": "jobs/evaluate.py",
        "governed_mlops/__init__.py": f"{LAYER}/__init__.py",
        "governed_mlops/errors.py": f"{LAYER}/errors.py",
        "governed_mlops_ml/__init__.py": f"{ML}/__init__.py",
        "governed_mlops_ml/metrics.py": f"{ML}/metrics.py",
        "governed_mlops_ml/model.py": f"{ML}/model.py",
        "train.py": "jobs/train.py",
    }


def test_files_nothing_imports_are_left_out_and_never_read() -> None:
    tree = DictTree(project())
    packed = pack_sourcedir(tree)
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r:gz") as archive:
        names = archive.getnames()
    for excluded in ("README.md", "settings.py", "unused.py", "config.yaml", "test_train.py"):
        assert not any(name.endswith(excluded) for name in names), names
    assert not any(path.startswith(("tests/", "models/")) or path.endswith("settings.py") for path in tree.reads)


def test_each_file_is_read_once_and_only_existing_folders_are_listed() -> None:
    # A CodeCommit tree costs one API call per listing and per read.
    tree = DictTree(project())
    pack_sourcedir(tree)
    assert sorted(tree.reads) == sorted(set(tree.reads))
    assert sorted(tree.listed) == sorted(set(tree.listed))
    assert all(any(path.startswith(f"{folder}/") for path in tree.files) for folder in tree.listed)


def test_packing_twice_gives_the_same_bytes_whatever_the_order_files_are_listed_in() -> None:
    files = project()
    again = dict(reversed(list(files.items())))
    first, second = pack_sourcedir(DictTree(files)), pack_sourcedir(DictTree(again))
    assert first.data == second.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest() == second.sha256


def test_entries_carry_no_time_owner_or_mode_of_the_machine_that_packed_them() -> None:
    data = deterministic_tar_gz({"b.py": b"2", "a/x.py": b"1", "a.py": b"0"})
    # gzip header: bytes 4..8 are the mtime
    assert data[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["a.py", "a/x.py", "b.py"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    assert gzip.decompress(data)  # a plain gzip stream


def test_one_line_more_in_a_job_script_is_another_sha256() -> None:
    base = project()
    changed = project(**{"jobs/train.py": base["jobs/train.py"] + b"# one more line\n"})
    assert pack_sourcedir(DictTree(base)).sha256 != pack_sourcedir(DictTree(changed)).sha256


def test_a_change_to_a_file_the_jobs_do_not_import_keeps_the_sha256() -> None:
    base = project()
    changed = project(**{f"{LAYER}/settings.py": b"import pydantic  # edited\n", "README.md": b"# edited\n"})
    assert pack_sourcedir(DictTree(base)).sha256 == pack_sourcedir(DictTree(changed)).sha256


def test_a_tree_without_job_scripts_is_a_named_error() -> None:
    files = {p: b for p, b in project().items() if not p.startswith("jobs/")}
    with pytest.raises(ConfigError, match=r"no job scripts \(jobs/\*\.py\)"):
        pack_sourcedir(DictTree(files))


def test_an_import_of_a_missing_first_party_module_names_the_file_and_module() -> None:
    files = project(**{"jobs/train.py": b"import governed_mlops_ml.nowhere\n"})
    with pytest.raises(ConfigError, match=r"jobs/train.py: imports governed_mlops_ml.nowhere"):
        pack_sourcedir(DictTree(files))


def test_a_job_script_that_is_not_python_is_a_named_error() -> None:
    files = project(**{"jobs/train.py": b"def broken(:\n"})
    with pytest.raises(ConfigError, match=r"jobs/train.py: not valid Python"):
        pack_sourcedir(DictTree(files))


def test_from_package_import_name_ships_the_submodule_only_when_it_is_one() -> None:
    files = project(**{"jobs/train.py": b"from governed_mlops_ml import model, not_a_module\n"})
    shipped = job_code_files(DictTree(files))
    assert "governed_mlops_ml/model.py" in shipped
    assert not any("not_a_module" in name for name in shipped)


def test_the_object_key_is_named_by_the_digest() -> None:
    assert content_addressed_key("ab" * 32) == f"source/{'ab' * 32}/sourcedir.tar.gz"
