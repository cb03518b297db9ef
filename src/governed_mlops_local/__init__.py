"""Everything that runs on a laptop or a CI box, never in a Lambda: the embedded local runtime, the CLI.

The local runtime runs the same template, ASL and handlers on one machine with no AWS account; the
``mlops`` CLI (``cli*.py``), the history UI (``ui``), the approval client, ``deploy-params`` and the
CLI-only use cases (``services``: reproduce, explain a decision, monitoring) sit on top of it.
It may import the Lambda layer (``governed_mlops``) and the job helpers (``governed_mlops_ml``);
neither of those imports this package.
"""

from governed_mlops_local import deferred_imports

# Before any module of this package imports moto's Step Functions interpreter (see deferred_imports).
deferred_imports.install()
