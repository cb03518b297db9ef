"""Pure ML helpers shared by the SageMaker job scripts and the pipeline's later stages.

This subpackage may import only the standard library, numpy, pandas, scikit-learn, scipy,
xgboost and matplotlib (plots): it runs inside SageMaker's XGBoost framework container, where nothing else of
``governed_mlops`` (pydantic, boto3, PyYAML) is available.

Import the submodules directly (``governed_mlops.ml.features``...): this package's ``__init__``
stays empty so that light modules (``hyperparameters``, ``job_config``) load without xgboost.
"""
