"""Worker: task controllers, the docker executor, logs."""
