"""Use cases of the ``mlops`` CLI only (no handler runs them): reproduce a model, explain a decision, monitor drift."""
