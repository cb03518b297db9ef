"""Pure ML helpers for the SageMaker job scripts (``jobs/*.py``) and the local tools that re-run them.

This package may import only the standard library, numpy, pandas, scikit-learn, scipy, xgboost
and the layer's pure, standard-library modules (``governed_mlops.errors``,
``governed_mlops.domain.bias_names``, ``governed_mlops.domain.hyperparameters``): it runs inside
SageMaker's XGBoost framework container, where pydantic, boto3 and PyYAML are not available.
``governed_mlops_local.packaging.build_sourcedir`` ships it with exactly the layer modules it imports.

Import the submodules directly (``governed_mlops_ml.features``...): this package's ``__init__``
stays empty so that light modules (``job_config``) load without xgboost. It never imports the
Lambda layer's pydantic or boto3 code, nor ``governed_mlops_local``.
"""
