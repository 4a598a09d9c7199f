"""The paper's tables as sweeps of training runs, a results store, and the report."""
