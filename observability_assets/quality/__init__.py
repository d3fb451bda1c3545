"""Quality measurements against ground truth; each module writes its section of docs/quality.md."""
