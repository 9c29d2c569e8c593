"""The numerics of predictive maintenance (issue 15), database-free (numpy and scipy only): a PCA health model
(Hotelling T² and Q/SPE with their control limits, `pca`), the signals that drive a score (`explain`), the remaining
useful life from a health index's trend (`rul`) and the alerting decision (`alerting`). The `maintenance` app stores
models and scores and opens work requests; `bench/pdm.py` measures these same functions against the simulator's
ground truth."""
