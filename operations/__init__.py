"""Operations (issue 16): health probes for load balancers and orchestrators, the Prometheus metrics endpoint,
JSON logs."""
