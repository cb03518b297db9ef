"""Pure domain logic of the pipeline: no I/O, standard library and the shared models only."""
