"""The work of each job kind: from the stored input (or the prompt) to an Outcome. A pipeline
raises MediaError for bad input, ApiError when every provider failed, and reports progress
through the callable it is given (which raises JobCancelled once the job was cancelled)."""
