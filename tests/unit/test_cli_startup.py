"""The CLI starts without the scientific stack: read commands and --help must not pay for it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "xgboost", "sklearn", "scipy", "shap", "boto3", "moto", "pydantic")


def test_importing_the_cli_and_its_command_modules_loads_none_of_the_heavy_libraries() -> None:
    probe = f"import sys, governed_mlops_local.cli\nprint(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == ""


def test_the_cli_sends_the_inference_id_header_the_endpoint_reads() -> None:
    # the monitor commands spell it out so that `mlops invoke` does not import the model server (numpy, xgboost)
    from governed_mlops_local import model_server
    from governed_mlops_local.cli import monitor as monitor_cli

    assert monitor_cli.INFERENCE_ID_HEADER == model_server.INFERENCE_ID_HEADER


def test_the_help_of_mlops_and_of_every_group_loads_none_of_the_heavy_libraries() -> None:
    # --help runs the group callbacks and builds every command's usage: nothing of that may pull in the stack.
    probe = (
        "import sys, click\n"
        "from governed_mlops_local.cli import main\n"
        "groups = [[]] + [[n] for n, c in main.commands.items() if isinstance(c, click.Group)]\n"
        "for args in groups:\n"
        "    main.main([*args, '--help'], prog_name='mlops', standalone_mode=False)\n"
        f"print('LOADED=' + ','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        "print('GROUPS=' + str(len(groups)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    lines = done.stdout.splitlines()
    assert "LOADED=" in lines
    assert int(lines[-1].removeprefix("GROUPS=")) > 1  # the groups were found, so their help was asked for


def test_each_command_module_stays_a_module_of_the_cli_package() -> None:
    # The package registers commands without binding their names: `cli.monitor` is the module, not the group.
    import pkgutil
    import types

    import governed_mlops_local.cli as cli_package

    names = [info.name for info in pkgutil.iter_modules(cli_package.__path__) if not info.name.startswith("_")]
    assert "monitor" in names
    hidden = [name for name in names if not isinstance(getattr(cli_package, name, None), types.ModuleType)]
    assert hidden == []
