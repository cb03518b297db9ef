"""``python -m governed_mlops_local.cli``: how the local server is started in the background."""

from governed_mlops_local.cli import main

main()
