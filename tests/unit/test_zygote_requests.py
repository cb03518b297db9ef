"""How a job request is framed between the python3 shim (or the emulator) and the zygote."""

from __future__ import annotations

import pytest

from governed_mlops_local.zygote import SHIM, decode_request, encode_request


@pytest.mark.parametrize(
    ("argv", "cwd", "env"),
    [
        (["train.py", "--max_depth", "4"], "/opt/ml/code", {"PATH": "/bin", "SM_HPS": '{"eta": "0.2"}'}),
        ([], "/", {}),
        (["", "a b=c", "caf\u00e9", "\udcff"], "/work dir", {"EMPTY": "", "EQUALS": "a=b=c", "RAW": "\udcff"}),
    ],
    ids=["training job", "nothing", "awkward values"],
)
def test_a_request_decodes_to_what_was_encoded(argv: list[str], cwd: str, env: dict[str, str]) -> None:
    assert decode_request(encode_request(argv, cwd=cwd, env=env)) == {"argv": argv, "cwd": cwd, "env": env}


@pytest.mark.parametrize(
    "payload",
    [b"", b"x\0script.py\0/", b"-1\0/", b"3\0a.py\0/", b"0\0/\0NO_SEPARATOR"],
    ids=[
        "empty",
        "count not a number",
        "negative count",
        "fewer fields than the count",
        "environment entry without '='",
    ],
)
def test_a_malformed_request_is_a_value_error(payload: bytes) -> None:
    # The zygote drops such a request unanswered, and the shim then runs the job in a fresh interpreter.
    with pytest.raises(ValueError, match=r"request|invalid literal"):
        decode_request(payload)


def test_the_shim_imports_only_built_in_modules() -> None:
    # It runs once per job: json, socket or array would cost every job ~8 ms of imports.
    imports = [line for line in SHIM.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import _socket, os, sys"]
